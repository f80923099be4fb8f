import { CircuitBreaker, type CircuitStore } from '@fleet-breaker/core'
import { InstrumentedStore } from '@fleet-breaker/core/testing'
import type { CallReport, DownstreamCall, EnvironmentCaller, EnvironmentContext } from './strategy.js'

/** Options of {@link breakerCaller}. */
export interface BreakerCallerOptions {
  /** The environment's store: its own client of a shared store, or a memory store of its own. */
  readonly store: CircuitStore
  /** Whether to report the store's round trips (a shared store's cost; memory costs none). */
  readonly reportStoreUsage: boolean
  /** The breaker's store deadline; absent: its default. */
  readonly storeTimeoutMs?: number
  /** Frees the store's client. */
  readonly close?: () => Promise<void>
}

/**
 * An environment whose calls go through a fleet-breaker {@link CircuitBreaker} on `store`.
 *
 * @example
 * ```ts
 * const caller = breakerCaller(context, { store: new MemoryStore(), reportStoreUsage: false })
 * const report = await caller.call((signal) => fetch(url, { signal }))
 * ```
 */
export function breakerCaller(context: EnvironmentContext, options: BreakerCallerOptions): EnvironmentCaller {
  const store = new InstrumentedStore(options.store)
  const { settings } = context
  const breaker = new CircuitBreaker({
    circuitId: context.circuitId,
    store,
    logger: context.logger,
    failureThreshold: settings.failureThreshold,
    resetTimeoutMs: settings.resetTimeoutMs,
    halfOpenMaxProbes: settings.halfOpenMaxProbes,
    callTimeoutMs: settings.callTimeoutMs,
    ...(settings.maxResetTimeoutMs === undefined ? {} : { maxResetTimeoutMs: settings.maxResetTimeoutMs }),
    ...(settings.cacheTtlMs === undefined ? {} : { cacheTtlMs: settings.cacheTtlMs }),
    ...(options.storeTimeoutMs === undefined ? {} : { storeTimeoutMs: options.storeTimeoutMs }),
    ...(context.metrics === undefined ? {} : { metrics: context.metrics }),
  })
  breaker.onStateChange(({ from, to, reason, origin }) => context.onTransition({ from, to, reason, origin }))

  return {
    // `admit()` rather than `execute()`: its permit says whether the call is a probe, which the
    // simulation counts. The permit is settled exactly as `execute()` would settle it.
    async call(request: DownstreamCall): Promise<CallReport> {
      const admission = await breaker.admit()
      if (!admission.admitted) return { outcome: 'rejected', probe: false }
      const { permit } = admission
      const deadline = new AbortController()
      const timer = setTimeout(
        () => deadline.abort(new DOMException('the call timed out', 'TimeoutError')),
        settings.callTimeoutMs,
      )
      try {
        // The default result classifier counts a 503 `Response` as a failure.
        await permit.recordResult(await request(deadline.signal))
      } catch (error) {
        // The default error classifier counts refused connections and timeouts.
        await permit.recordError(error)
      } finally {
        clearTimeout(timer)
      }
      return { outcome: 'called', probe: permit.isProbe }
    },
    ...(options.reportStoreUsage ? { storeUsage: () => ({ reads: store.reads, writes: store.writes }) } : {}),
    close: options.close ?? (async () => {}),
  }
}
