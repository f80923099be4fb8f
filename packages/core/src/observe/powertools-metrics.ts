import type { StateChange } from '../events.js'
import { CircuitState } from '../state.js'
import type {
  BreakerObserver,
  CallRejected,
  FailOpenCall,
  FailureCounted,
  LocallyOpened,
  ProbeCompleted,
  StoreErrorEvent,
  StoreLatencyEvent,
} from './observer.js'

/** The metrics the breaker emits, by name. */
export const BreakerMetric = {
  /** The circuit opened (from CLOSED or HALF_OPEN, or forced). Count, from the one environment that opened it. */
  CIRCUIT_OPENED: 'CircuitOpened',
  /** The circuit went half-open. Count, from the one environment that made the transition. */
  CIRCUIT_HALF_OPENED: 'CircuitHalfOpened',
  /** The circuit closed. Count, from the one environment that made the transition. */
  CIRCUIT_CLOSED: 'CircuitClosed',
  /** A call was not made. Count; the reason is the `rejectionReason` property of the EMF document. */
  CALLS_REJECTED: 'CallsRejected',
  /** Shadow mode let a call through that the breaker would have rejected. Count, with `rejectionReason`. */
  CALLS_WOULD_REJECT: 'CallsWouldReject',
  PROBE_SUCCEEDED: 'ProbeSucceeded',
  PROBE_FAILED: 'ProbeFailed',
  /** A failure (or slow call) counted against the closed circuit. Count. */
  FAILURES_COUNTED: 'FailuresCounted',
  /** A call let through because the store was unavailable (`fail-open`). Count. */
  FAIL_OPEN_CALLS: 'FailOpenCalls',
  /**
   * This environment's own breaker opened while the store could not be told (a store outage).
   * Count, per environment: not a fleet transition, so never part of `CircuitOpened`.
   */
  LOCALLY_OPENED: 'LocallyOpened',
  /** A store call that failed or ran out of time. Count, with `storeOperation`. */
  STORE_ERRORS: 'StoreErrors',
  /** How long a store call took. Milliseconds, with `storeOperation`. */
  STORE_LATENCY: 'StoreLatency',
} as const
export type BreakerMetric = (typeof BreakerMetric)[keyof typeof BreakerMetric]

/** The units the breaker's metrics use (names as Powertools' `MetricUnit` spells them). */
export type BreakerMetricUnit = 'Count' | 'Milliseconds'

/** The dimension that names the circuit; the other one is Powertools' `service`. */
export const CIRCUIT_ID_DIMENSION = 'circuitId'

/**
 * The part of a Powertools `Metrics` instance that emits one metric at once: what
 * `metrics.singleMetric()` returns.
 */
export interface SingleMetricLike {
  addMetric(name: string, unit: BreakerMetricUnit, value: number): unknown
  addMetadata(key: string, value: string): unknown
  setDefaultDimensions(dimensions: Record<string, string>): unknown
}

/**
 * What the `metrics` option takes: a Powertools for AWS Lambda `Metrics` instance
 * (`@aws-lambda-powertools/metrics`), typed by the one method the breaker uses, so that the core
 * depends on no Powertools package.
 */
export interface PowertoolsMetricsLike {
  singleMetric(): SingleMetricLike
}

const OPENED_BY_STATE: Readonly<Record<CircuitState, BreakerMetric>> = {
  [CircuitState.OPEN]: BreakerMetric.CIRCUIT_OPENED,
  [CircuitState.HALF_OPEN]: BreakerMetric.CIRCUIT_HALF_OPENED,
  [CircuitState.CLOSED]: BreakerMetric.CIRCUIT_CLOSED,
}

/**
 * An observer that emits the breaker's metrics through a Powertools `Metrics` instance, in
 * CloudWatch Embedded Metric Format. Each metric goes out at once, as its own EMF document
 * (Powertools' `singleMetric()`), with two dimensions only: the instance's `service` and
 * `circuitId` (plus any default dimensions set on the instance itself); the user's own buffered
 * metrics and per-request dimensions are left alone. Transitions are counted only where they were
 * made (`origin: 'local'`), so a fleet's sum is exactly one per transition.
 *
 * The breaker's `metrics` option creates one; use this class to share a child instance or to
 * combine it with other observers.
 *
 * @example
 * ```ts
 * import { Metrics } from '@aws-lambda-powertools/metrics'
 * import { CircuitBreaker, MemoryStore, PowertoolsMetricsObserver } from '@fleet-breaker/core'
 *
 * const metrics = new Metrics({ namespace: 'checkout', serviceName: 'payments' })
 * export const breaker = new CircuitBreaker({
 *   circuitId: 'payment-api',
 *   store: new MemoryStore(),
 *   observers: [new PowertoolsMetricsObserver(metrics, 'payment-api')],
 * })
 * ```
 */
export class PowertoolsMetricsObserver implements BreakerObserver {
  readonly #metrics: PowertoolsMetricsLike
  readonly #circuitId: string
  #single: SingleMetricLike | undefined

  constructor(metrics: PowertoolsMetricsLike, circuitId: string) {
    this.#metrics = metrics
    this.#circuitId = circuitId
  }

  onStateChange(change: StateChange): void {
    // A manual action that leaves the state as it was is reported as a change, but is no transition.
    if (change.origin !== 'local' || change.from === change.to) return
    this.#emit(OPENED_BY_STATE[change.to], 'Count', 1)
  }

  onCallRejected(event: CallRejected): void {
    const name = event.wouldReject ? BreakerMetric.CALLS_WOULD_REJECT : BreakerMetric.CALLS_REJECTED
    this.#emit(name, 'Count', 1, 'rejectionReason', event.reason)
  }

  onProbeSucceeded(_event: ProbeCompleted): void {
    this.#emit(BreakerMetric.PROBE_SUCCEEDED, 'Count', 1)
  }

  onProbeFailed(_event: ProbeCompleted): void {
    this.#emit(BreakerMetric.PROBE_FAILED, 'Count', 1)
  }

  onFailureCounted(_event: FailureCounted): void {
    this.#emit(BreakerMetric.FAILURES_COUNTED, 'Count', 1)
  }

  onFailOpenCall(_event: FailOpenCall): void {
    this.#emit(BreakerMetric.FAIL_OPEN_CALLS, 'Count', 1)
  }

  onLocallyOpened(_event: LocallyOpened): void {
    this.#emit(BreakerMetric.LOCALLY_OPENED, 'Count', 1)
  }

  onStoreError(event: StoreErrorEvent): void {
    this.#emit(BreakerMetric.STORE_ERRORS, 'Count', 1, 'storeOperation', event.operation)
  }

  onStoreLatency(event: StoreLatencyEvent): void {
    this.#emit(BreakerMetric.STORE_LATENCY, 'Milliseconds', event.durationMs, 'storeOperation', event.operation)
  }

  /** A single-metric child of the instance, with `circuitId` among its default dimensions, made once. */
  #child(): SingleMetricLike {
    if (this.#single === undefined) {
      const single = this.#metrics.singleMetric()
      single.setDefaultDimensions({ [CIRCUIT_ID_DIMENSION]: this.#circuitId })
      this.#single = single
    }
    return this.#single
  }

  #emit(name: BreakerMetric, unit: BreakerMetricUnit, value: number, key?: string, detail?: string): void {
    const single = this.#child()
    // Metadata goes out with the next metric only (a single metric is published, then cleared).
    if (key !== undefined && detail !== undefined) single.addMetadata(key, detail)
    single.addMetric(name, unit, value)
  }
}

/** Whether `value` looks like a Powertools `Metrics` instance. */
export function isPowertoolsMetrics(value: unknown): value is PowertoolsMetricsLike {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'singleMetric') === 'function'
}
