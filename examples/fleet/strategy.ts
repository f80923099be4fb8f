import type { CircuitState, Logger, PowertoolsMetricsLike } from '@fleet-breaker/core'

/**
 * The breaker settings of a run, the same for every strategy so that their results compare.
 *
 * @example
 * ```ts
 * const settings: BreakerSettings = { failureThreshold: 5, resetTimeoutMs: 1_000, halfOpenMaxProbes: 1, callTimeoutMs: 1_000 }
 * ```
 */
export interface BreakerSettings {
  /** Failures that open the circuit. */
  readonly failureThreshold: number
  /** How long the circuit stays open the first time, in milliseconds. */
  readonly resetTimeoutMs: number
  /** Cap of the backoff after failed probes; absent: the breaker's default. */
  readonly maxResetTimeoutMs?: number
  /** Probes at once while half-open. */
  readonly halfOpenMaxProbes: number
  /** How long a CLOSED view is trusted without reading the store; absent: the breaker's default. */
  readonly cacheTtlMs?: number
  /** Deadline of each call to the downstream, in milliseconds. */
  readonly callTimeoutMs: number
}

/** A state change an environment's breaker reports. */
export interface TransitionReport {
  readonly from: CircuitState
  readonly to: CircuitState
  /** Why, in the breaker's own words (fleet-breaker: `failure-threshold`, `probe-failed`, ...). */
  readonly reason: string
  /** `'local'`: this environment made the change; `'observed'`: it learned of one made elsewhere. */
  readonly origin: 'local' | 'observed'
}

/** What a strategy learns about the environment it is asked to create. */
export interface EnvironmentContext {
  /** The environment's number, from 0. */
  readonly index: number
  /** The circuit every environment of this run protects; fresh for each run. */
  readonly circuitId: string
  readonly settings: BreakerSettings
  /** Where breaker warnings go; the simulator collects them for the result. */
  readonly logger: Logger
  /** Where the breaker emits its metrics (its `metrics` option): the run's fleet-wide totals. */
  readonly metrics?: PowertoolsMetricsLike
  /** Tell the simulator of every state change, as it happens. */
  onTransition(transition: TransitionReport): void
}

/** The protected call: a request to the downstream, with the signal that cancels it. */
export type DownstreamCall = (signal: AbortSignal) => Promise<Response>

/** What became of one invocation's call. */
export interface CallReport {
  /** `'called'`: the downstream was called; `'rejected'`: the breaker turned the call away. */
  readonly outcome: 'called' | 'rejected'
  /** Whether the call was a half-open probe. */
  readonly probe: boolean
}

/** Round trips to a shared store. */
export interface StoreUsage {
  readonly reads: number
  readonly writes: number
}

/**
 * One execution environment's breaker: it makes one protected call per invocation, one at a time.
 *
 * @example
 * ```ts
 * const report = await caller.call((signal) => fetch(url, { signal }))
 * if (report.outcome === 'rejected') console.log('circuit open')
 * ```
 */
export interface EnvironmentCaller {
  /**
   * Makes the call through the breaker. Resolves for every outcome of the downstream (a 503, a
   * refused connection, a timeout) and for rejections; rejects only for a fault of the strategy.
   */
  call(request: DownstreamCall): Promise<CallReport>
  /** Round trips to the shared store so far; absent when the breaker keeps its state in memory. */
  storeUsage?(): StoreUsage
  /** Frees what the environment holds (its store client). */
  close(): Promise<void>
}

/**
 * A way of protecting the downstream that the simulator can run a fleet of: one instance serves
 * one run, which closes it at the end.
 *
 * @example
 * ```ts
 * const strategy: FleetStrategy = {
 *   name: 'no breaker',
 *   description: 'every invocation calls the downstream',
 *   async createEnvironment() {
 *     return {
 *       async call(request) {
 *         await request(AbortSignal.timeout(1_000)).catch(() => undefined)
 *         return { outcome: 'called', probe: false }
 *       },
 *       async close() {},
 *     }
 *   },
 *   async close() {},
 * }
 * ```
 */
export interface FleetStrategy {
  /** Short, for table columns: `'shared (dynamodb)'`. */
  readonly name: string
  /** One line, for headings. */
  readonly description: string
  /** Builds environment `context.index`'s breaker, with clients of its own. */
  createEnvironment(context: EnvironmentContext): Promise<EnvironmentCaller>
  /** Frees what the strategy holds beyond its environments. */
  close(): Promise<void>
}
