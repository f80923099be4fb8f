import type { CircuitView } from './circuit-view.js'
import { RejectionReason } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { type Refusal, refused } from './ruling.js'
import { type CircuitRecord, CircuitState } from './state.js'

type GateOptions = Pick<
  ResolvedOptions,
  'circuitId' | 'liveProbes' | 'healthCheckIntervalMs' | 'missedChecks' | 'halfOpenSuccessThreshold' | 'cacheTtlMs'
>

/**
 * When live calls may probe `record` again under `liveProbes: false`: the moment the health
 * checker is taken to have stopped. An OPEN circuit has been due since its retry time; a HALF_OPEN
 * one since it was entered, with one more interval for each further success it needs (each comes
 * from another check run). `undefined`: live calls may probe now (`liveProbes: true`, or a closed
 * circuit).
 *
 * Computed from the record's own timestamps, which only the checker's decisions move (a reopening
 * sets a new retry time, a close ends the wait), so every environment reaches the same answer
 * without a heartbeat of its own.
 *
 * @example
 * ```ts
 * liveProbesResumeAt(openRecord, { ...options, liveProbes: false }) // openRecord.retryAt + 60_000 × 3
 * ```
 */
export function liveProbesResumeAt(record: CircuitRecord, options: GateOptions): number | undefined {
  if (options.liveProbes) return undefined
  const grace = options.healthCheckIntervalMs * options.missedChecks
  switch (record.state) {
    case CircuitState.CLOSED:
      return undefined
    case CircuitState.OPEN:
      return record.retryAt + grace
    case CircuitState.HALF_OPEN:
      return record.changedAt + grace + options.healthCheckIntervalMs * (options.halfOpenSuccessThreshold - 1)
  }
}

/**
 * The `liveProbes: false` decision: whether a live call may be the probe of a circuit whose retry
 * time has come. While the checker is expected, it may not, and the call is rejected as if the
 * circuit were still open. The record that says so is trusted for `cacheTtlMs` from the read that
 * returned it, so waiting for the checker costs at most one read per environment per `cacheTtlMs`
 * (the same as an open circuit), and an operator's change still reaches every environment within it.
 */
export class LiveProbeGate {
  readonly #options: GateOptions
  /** The last withheld record read from the store, and when. */
  #waiting: { readonly record: CircuitRecord; readonly readAt: number } | undefined

  constructor(options: GateOptions) {
    this.#options = options
  }

  /** Whether a live call must not probe `record` (due for a retry) at `now`. */
  withholds(record: CircuitRecord, now: number): boolean {
    const resumeAt = liveProbesResumeAt(record, this.#options)
    return resumeAt !== undefined && now < resumeAt
  }

  /** The refusal of a live call the gate withholds: retry when the checker may have decided. */
  refuse(record: CircuitRecord, now: number): Refusal {
    const resumeAt = liveProbesResumeAt(record, this.#options) ?? now
    const retryAfterMs = Math.max(0, Math.min(this.#options.healthCheckIntervalMs, resumeAt - now))
    const reason = record.state === CircuitState.HALF_OPEN ? RejectionReason.PROBES_BUSY : RejectionReason.OPEN
    return refused({ circuitId: this.#options.circuitId, state: record.state, reason, retryAfterMs })
  }

  /** Notes a record just read from the store, so a withheld one need not be read again at once. */
  learned(record: CircuitRecord, now: number): void {
    if (this.withholds(record, now)) this.#waiting = { record, readAt: now }
  }

  /**
   * The record a decision may start from without reading the store: with live probes, an open
   * circuit due for a probe (the contention write then tells whether it is stale); without, the
   * withheld record read less than `cacheTtlMs` ago, if it is still the latest known.
   */
  cached(view: CircuitView, now: number): CircuitRecord | undefined {
    if (this.#options.liveProbes) return view.dueForProbe(now)
    const waiting = this.#waiting
    if (waiting === undefined || waiting.record !== view.latest) return undefined
    if (now - waiting.readAt >= this.#options.cacheTtlMs || !this.withholds(waiting.record, now)) return undefined
    return waiting.record
  }
}
