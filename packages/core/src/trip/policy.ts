import type { CircuitView } from '../circuit-view.js'
import type { LocalBreaker } from '../local-breaker.js'
import type { ResolvedOptions } from '../options.js'
import type { PermitState, Verdict } from '../permit.js'
import type { ClosedRecord } from '../state.js'
import type { TransitionGuard } from '../store/contract.js'
import type { StoreLink } from '../store-link.js'
import { ConsecutiveFailures } from './consecutive.js'
import { FailureRate } from './failure-rate.js'

/** What a trip policy works with: the breaker's options, view, store link and local breaker. */
export interface TripPolicyParts {
  readonly options: ResolvedOptions
  readonly view: CircuitView
  readonly link: StoreLink
  readonly local: LocalBreaker
}

/**
 * The trip policy the options choose: the failure rate when `failureRateThreshold` or
 * `slowCallRateThreshold` is set, else consecutive failures.
 *
 * @example
 * ```ts
 * const policy = tripPolicyFor({ options, view, link, local })
 * ```
 */
export function tripPolicyFor(parts: TripPolicyParts): TripPolicy {
  const { failureRateThreshold, slowCallRateThreshold } = parts.options
  const rate = failureRateThreshold !== undefined || slowCallRateThreshold !== undefined
  return rate ? new FailureRate(parts) : new ConsecutiveFailures(parts)
}

/**
 * When a closed circuit opens, and how the outcomes of its calls are counted for that. The breaker
 * asks two things: record this outcome (a store write, or nothing yet), and do these counts open
 * the circuit (and under which guard, so the store opens it only if they still do).
 *
 * @example
 * ```ts
 * const guard = policy.tripGuard(closedRecord, Date.now()) // { minFailures: 3 } when 3 failures were counted
 * ```
 */
export interface TripPolicy {
  /**
   * Records the outcome of a call admitted in a closed circuit (`slow`: it took at least
   * `slowCallDurationMs`). Returns `undefined` when nothing is written now, so the healthy path
   * costs no promise.
   */
  record(permit: PermitState, verdict: Verdict, slow: boolean): Promise<void> | undefined
  /** The guard of the CLOSED → OPEN transition when `record`'s counts open the circuit at `now`; else `undefined`. */
  tripGuard(record: ClosedRecord, now: number): TransitionGuard | undefined
}
