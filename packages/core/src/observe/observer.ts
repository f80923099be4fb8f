import type { RejectionReason } from '../errors.js'
import type { StateChange } from '../events.js'

/** Why a call was not made: the circuit's reasons, plus the two this environment decides alone. */
export const RejectedBecause = {
  OPEN: 'open',
  PROBES_BUSY: 'probes-busy',
  FORCED_OPEN: 'forced-open',
  LOCALLY_OPEN: 'locally-open',
  RAMPING: 'ramping',
  /** `maxConcurrent` calls were in flight and the queue was full (or the wait ran out). */
  CONCURRENCY_LIMIT: 'concurrency-limit',
  /** The store could not be reached under `storeOutage: 'fail-closed'`. */
  STORE_UNAVAILABLE: 'store-unavailable',
} as const satisfies Record<string, RejectionReason | 'concurrency-limit' | 'store-unavailable'>
export type RejectedBecause = (typeof RejectedBecause)[keyof typeof RejectedBecause]

/** A call the breaker rejected, or, in shadow mode, let through although it would have rejected it. */
export interface CallRejected {
  readonly circuitId: string
  readonly reason: RejectedBecause
  /** `true`: shadow mode let the call through; the breaker would have rejected it. */
  readonly wouldReject: boolean
  /** Epoch milliseconds, of the breaker's clock. */
  readonly at: number
}

/** A half-open probe's outcome, as this environment recorded it. */
export interface ProbeCompleted {
  readonly circuitId: string
  readonly succeeded: boolean
  readonly at: number
}

/** A failure of the downstream counted against a closed circuit. */
export interface FailureCounted {
  readonly circuitId: string
  /** The call succeeded but took at least `slowCallDurationMs`. */
  readonly slow: boolean
  readonly at: number
}

/** A call let through because the store could not be reached (`storeOutage: 'fail-open'`). */
export interface FailOpenCall {
  readonly circuitId: string
  readonly at: number
}

/**
 * This environment's own breaker opened while the store could not be told (a store outage): the
 * environment rejects calls on its own. Not a fleet transition: each environment reports its own.
 */
export interface LocallyOpened {
  readonly circuitId: string
  readonly at: number
}

/** A store call that failed or ran out of time. */
export interface StoreErrorEvent {
  readonly circuitId: string
  /** The store operation: `get`, `addFailure`, `transition`, ... */
  readonly operation: string
  readonly error: unknown
  readonly at: number
}

/** How long one store call took, measured with the monotonic clock. */
export interface StoreLatencyEvent {
  readonly circuitId: string
  readonly operation: string
  readonly durationMs: number
  /** Whether the store answered (a failed call's latency is measured too). */
  readonly ok: boolean
}

/**
 * Receives what a breaker does, for metrics, traces or alerts. Every method is optional; implement
 * those you need. Methods are called synchronously where the event happens, so they must be quick
 * (buffer, count, enqueue) and must not wait for I/O; one that throws is logged once and never
 * breaks a call. `flush()` is for sinks that send asynchronously: call it (the Middy middleware
 * does) before the invocation ends.
 *
 * With no observer registered the breaker does no work for them at all: no event object is made.
 *
 * @example
 * ```ts
 * import { type BreakerObserver, CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
 *
 * const counts = { opened: 0, rejected: 0 }
 * const counter: BreakerObserver = {
 *   onStateChange: (change) => {
 *     if (change.origin === 'local' && change.to === 'OPEN') counts.opened++
 *   },
 *   onCallRejected: () => {
 *     counts.rejected++
 *   },
 * }
 * export const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore(), observers: [counter] })
 * ```
 */
export interface BreakerObserver {
  /** A change of the state callers experience; `origin: 'local'` in exactly one environment per transition. */
  onStateChange?(change: StateChange): void
  /** A call was not made (or, in shadow mode, would not have been). */
  onCallRejected?(event: CallRejected): void
  onProbeSucceeded?(event: ProbeCompleted): void
  onProbeFailed?(event: ProbeCompleted): void
  onFailureCounted?(event: FailureCounted): void
  onFailOpenCall?(event: FailOpenCall): void
  /** This environment's own breaker opened during a store outage; never a fleet transition. */
  onLocallyOpened?(event: LocallyOpened): void
  onStoreError?(event: StoreErrorEvent): void
  onStoreLatency?(event: StoreLatencyEvent): void
  /**
   * Sends whatever is buffered; resolves when done. Never rejects. `timeoutMs`, when given, is the
   * longest the caller waits (the invocation's time left, less its margin): stop waiting by then.
   */
  flush?(timeoutMs?: number): Promise<void>
}
