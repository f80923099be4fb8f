import type { CircuitView } from './circuit-view.js'
import type { Decider } from './decider.js'
import type { ResolvedOptions } from './options.js'
import { PermitMode, type PermitState } from './permit.js'
import { activeOverride, type CircuitRecord, CircuitState, liveProbes } from './state.js'
import { freeProbeSlot } from './store/semantics.js'
import type { StoreLink } from './store-link.js'

/**
 * Why a scheduled check did not become the circuit's probe.
 *
 * @example
 * ```ts
 * const probe = await breaker.admitProbe()
 * if (!probe.admitted && probe.reason === ProbeSkipReason.NOT_DUE) console.log(`retry in ${probe.retryAfterMs} ms`)
 * ```
 */
export const ProbeSkipReason = {
  /** The circuit is closed: there is nothing to probe. */
  CLOSED: 'closed',
  /** The circuit is open and its retry time has not come: the backoff the fleet agreed on holds. */
  NOT_DUE: 'not-due',
  /** Every probe slot is held, by a live call or another checker. */
  PROBES_BUSY: 'probes-busy',
  /** An operator's override is in force. */
  FORCED: 'forced',
  /** The store could not be read, or could not confirm the lease. */
  STORE_UNAVAILABLE: 'store-unavailable',
  /** This breaker instance has `maxConcurrent` calls in flight. */
  CONCURRENCY_LIMIT: 'concurrency-limit',
} as const
export type ProbeSkipReason = (typeof ProbeSkipReason)[keyof typeof ProbeSkipReason]

/** A check that is not the probe: why, the state it found, and when asking again makes sense. */
export interface ProbeSkip {
  readonly admitted: false
  readonly reason: ProbeSkipReason
  /** The state callers experience (for `store-unavailable`, as this instance last knew it). */
  readonly state: CircuitState
  /** Milliseconds until a probe may be possible (0: now, or not applicable). */
  readonly retryAfterMs: number
}

/** What the probe-now path decides: a probe permit holding a lease, or why not. */
export type ProbeNowDecision = { readonly admitted: true; readonly permit: PermitState } | ProbeSkip

/** What the probe-now path works with: the breaker's options, view, store link and decider. */
export interface ProbeNowParts {
  readonly options: ResolvedOptions
  readonly view: CircuitView
  readonly link: StoreLink
  readonly decider: Decider
}

/**
 * Makes a scheduled check the circuit's probe, if the circuit wants one now: reads the store (never
 * a cached view), and for an OPEN circuit whose retry time has come, or a HALF_OPEN one with a free
 * slot, contends for the probe lease with the same writes a live call makes. So a check never races
 * a live probe, respects `halfOpenMaxProbes`, and never moves an open circuit's retry time: a
 * circuit that is not due is left alone (`not-due`), whatever `liveProbes` says.
 *
 * One contention write at most: a check that loses the race reports what the winner left.
 */
export async function decideProbeNow(parts: ProbeNowParts, signal: AbortSignal | undefined): Promise<ProbeNowDecision> {
  const { options, view, link, decider } = parts
  const read = await link.read(false)
  const now = options.now()
  if (!read.ok) {
    const state = view.latest?.state ?? CircuitState.CLOSED
    return skip(ProbeSkipReason.STORE_UNAVAILABLE, state, options.storeRetryIntervalMs)
  }
  const record = read.value
  const found = skipFor(record, now, options)
  if (found !== undefined) return found
  const outcome = await decider.contendForProbe(record, now, signal)
  if (!('admitted' in outcome)) return skipFor(outcome, options.now(), options) ?? busy(outcome, options.now())
  if (outcome.admitted && outcome.permit.mode === PermitMode.PROBE) return outcome
  // Admitted without a lease (the store could not confirm one) or rejected: no probe this time.
  const latest = view.latest ?? record
  const reason = outcome.admitted ? ProbeSkipReason.STORE_UNAVAILABLE : undefined
  if (reason !== undefined) return skip(reason, latest.state, options.storeRetryIntervalMs)
  return skipFor(latest, options.now(), options) ?? busy(latest, options.now())
}

/** The skip `record` calls for at `now`, or `undefined` when it wants a probe. */
function skipFor(
  record: CircuitRecord,
  now: number,
  options: Pick<ResolvedOptions, 'halfOpenMaxProbes'>,
): ProbeSkip | undefined {
  const forced = activeOverride(record, now)
  if (forced !== undefined) {
    return skip(ProbeSkipReason.FORCED, forced.state, forced.until === undefined ? 0 : forced.until - now)
  }
  switch (record.state) {
    case CircuitState.CLOSED:
      return skip(ProbeSkipReason.CLOSED, CircuitState.CLOSED, 0)
    case CircuitState.OPEN:
      return record.retryAt > now ? skip(ProbeSkipReason.NOT_DUE, CircuitState.OPEN, record.retryAt - now) : undefined
    case CircuitState.HALF_OPEN:
      return freeProbeSlot(record, options.halfOpenMaxProbes, now) === undefined ? busy(record, now) : undefined
  }
}

function busy(record: CircuitRecord, now: number): ProbeSkip {
  const leases = record.state === CircuitState.HALF_OPEN ? liveProbes(record, now) : []
  const firstExpiry = leases.length === 0 ? now : Math.min(...leases.map((lease) => lease.expiresAt))
  return skip(ProbeSkipReason.PROBES_BUSY, record.state, Math.max(0, firstExpiry - now))
}

function skip(reason: ProbeSkipReason, state: CircuitState, retryAfterMs: number): ProbeSkip {
  return { admitted: false, reason, state, retryAfterMs: Math.max(0, retryAfterMs) }
}
