/**
 * A clock that only moves when told to, for tests of time-driven behaviour without waiting.
 *
 * @example
 * ```ts
 * const clock = new ManualClock()
 * const breaker = new CircuitBreaker({ circuitId: 'x', store, now: clock.now })
 * clock.advance(10_000) // the retry time has come
 * ```
 */
export class ManualClock {
  #time: number

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#time = start
  }

  /** The current time in epoch milliseconds; bound, so it can be passed around as `now`. */
  readonly now = (): number => this.#time

  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`a clock only moves forward; received ${ms}`)
    this.#time += ms
  }
}
