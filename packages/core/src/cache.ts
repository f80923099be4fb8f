import { activeOverride, type CircuitRecord, CircuitState, liveProbes } from './state.js'

/**
 * This environment's view of the shared state, and how long it may be trusted without asking the
 * store again. Every view is trusted for at most `ttlMs`, so an operator's change (an override, a
 * reset) reaches every environment within `ttlMs` whatever it has cached; an OPEN view for less
 * when its retry time comes first; a HALF_OPEN one only while every probe slot is taken, for at
 * most {@link HALF_OPEN_TRUST_MS}. An open circuit therefore costs at most one read per environment
 * per `ttlMs`. With `ttlMs` 0 nothing is trusted and every decision reads the store.
 *
 * Every record the store returns, from reads and writes alike, refreshes the view, so an
 * environment learns of a fleet-wide change on its next store call at the latest.
 */
/**
 * How long a half-open view with every probe slot taken is trusted. A probe usually answers well
 * within it, and environments then learn of the close a moment later instead of at the lease's
 * end; during the short half-open period it costs at most a few reads a second per environment.
 */
export const HALF_OPEN_TRUST_MS = 250

export class StateCache {
  readonly #ttlMs: number
  readonly #maxProbes: number
  #record: CircuitRecord | undefined
  #trustedUntil = 0

  constructor(ttlMs: number, maxProbes: number) {
    this.#ttlMs = ttlMs
    this.#maxProbes = maxProbes
  }

  /** The last record learned, however old. */
  get latest(): CircuitRecord | undefined {
    return this.#record
  }

  /** Until when (epoch milliseconds) the view may be trusted; 0 when it may not. */
  get trustedUntil(): number {
    return this.#trustedUntil
  }

  /** The view, if it may still be trusted at `now`. */
  fresh(now: number): CircuitRecord | undefined {
    return this.#record !== undefined && now < this.#trustedUntil ? this.#record : undefined
  }

  /**
   * The last record, if it is an open circuit whose retry time has come (and no override holds
   * it). The decision then goes straight to contending for the probe: that write is conditional on
   * the record's generation, so a stale view costs a failed write, which returns the current
   * record, instead of a read before every probe.
   */
  dueForProbe(now: number): CircuitRecord | undefined {
    const record = this.#record
    if (this.#ttlMs === 0 || record?.state !== CircuitState.OPEN || record.retryAt > now) return undefined
    return activeOverride(record, now) === undefined ? record : undefined
  }

  /** Replaces the view with a record the store returned at `now`. */
  store(record: CircuitRecord, now: number): void {
    this.#record = record
    this.#trustedUntil = this.#ttlMs === 0 ? 0 : this.#trustUntil(record, now)
  }

  /**
   * Stops trusting the view (it stays the latest known record): the next decision asks the store.
   * Used when a write's answer was lost, since the view may no longer be what the store holds.
   */
  distrust(): void {
    this.#trustedUntil = 0
  }

  #trustUntil(record: CircuitRecord, now: number): number {
    const ttlEnd = now + this.#ttlMs
    const forced = activeOverride(record, now)
    if (forced !== undefined) return Math.min(ttlEnd, forced.until ?? ttlEnd)
    switch (record.state) {
      case CircuitState.CLOSED:
        return ttlEnd
      case CircuitState.OPEN:
        return Math.min(ttlEnd, record.retryAt)
      case CircuitState.HALF_OPEN: {
        const leases = liveProbes(record, now)
        if (leases.length < this.#maxProbes) return now
        return Math.min(ttlEnd, now + HALF_OPEN_TRUST_MS, ...leases.map((lease) => lease.expiresAt))
      }
    }
  }
}
