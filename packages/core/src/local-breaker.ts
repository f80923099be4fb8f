import type { CircuitRecord } from './state.js'

/** What the local breaker needs to know of the breaker's options. */
export interface LocalBreakerOptions {
  readonly failureThreshold: number
  readonly failureWindowMs: number
  readonly resetTimeoutMs: number
}

/** What the local breaker tells its owner. */
export interface LocalBreakerHooks {
  /** It opened on its own (not when a failed trial reopens it). */
  readonly opened?: () => void
  /** It counted a failure or opened: until it is idle again, successes have something to reset. */
  readonly counting?: () => void
}

/**
 * A breaker of this environment alone, for while the shared store cannot be reached.
 *
 * A failure whose write to the store did not succeed is counted here instead of being dropped,
 * and a threshold the store showed reached but could not be told to open on opens it at once. Open,
 * the environment stops calling on its own for `resetTimeoutMs`, then lets a single trial call
 * through (the others are still rejected): its success closes it, its failure reopens it. So an
 * environment is never less protected than a breaker of its own would make it, whatever the store
 * does. When the store takes a write again, or shows a circuit that has moved on since the local
 * breaker opened (an operator's reset, a new record), its shared state is the truth again.
 */
export class LocalBreaker {
  readonly #options: LocalBreakerOptions
  #failures = 0
  #windowStartedAt = 0
  /** Until when calls are rejected; 0 when closed. */
  #openUntil = 0
  /**
   * Counts every change of the local breaker (a trial given, a failure, an opening, a success, a
   * clear): a trial goes back only if nothing changed since it was given, which a comparison of
   * times could not tell (a failure in the same millisecond reopens it until the very same time).
   */
  #changes = 0
  /** The number of the last trial {@link isOpen} gave (the count of changes it made; 0: none yet), which the call given it holds. */
  #lastTrial = 0
  /** When the opening ended before the last trial was given: to give that trial back. */
  #openUntilBeforeTrial = 0
  /** The shared state known when the local breaker opened: a circuit moved past it clears it. */
  #openedOver: { readonly incarnation: string; readonly generation: number } | undefined

  readonly #hooks: LocalBreakerHooks

  constructor(options: LocalBreakerOptions, hooks: LocalBreakerHooks = {}) {
    this.#options = options
    this.#hooks = hooks
  }

  /** Whether it counts nothing and is closed: a success then has nothing to reset here. */
  get idle(): boolean {
    return this.#failures === 0 && this.#openUntil === 0
  }

  /**
   * Whether a call must be rejected at `now`. Once an opening has run its time, the first call to
   * ask is the trial and is let through; the ones after it are rejected until it settles (or, if
   * it never reports, for another `resetTimeoutMs`).
   */
  isOpen(now: number): boolean {
    if (this.#openUntil === 0) return false
    if (now < this.#openUntil) return true
    this.#openUntilBeforeTrial = this.#openUntil
    this.#openUntil = now + this.#options.resetTimeoutMs
    this.#lastTrial = ++this.#changes
    return false
  }

  /** The number of the last trial {@link isOpen} gave (0: none yet). */
  get lastTrial(): number {
    return this.#lastTrial
  }

  /** Whether the next call to ask {@link isOpen} at `now` would be the trial (asking gives it away). */
  trialDue(now: number): boolean {
    return this.#openUntil !== 0 && now >= this.#openUntil
  }

  /**
   * Takes back trial number `trial` (see {@link lastTrial}; 0: none), given to a call that was
   * then turned away, not made, or answered with an error that does not count, so that the next
   * call to ask gets it rather than waiting out another `resetTimeoutMs`. Nothing changes once
   * anything else has changed the local breaker: a later trial, a failure, a success, a clear.
   */
  giveBack(trial: number): void {
    // The last trial, with nothing changed since: the count of changes is still its number.
    if (trial === 0 || trial !== this.#changes) return
    this.#openUntil = this.#openUntilBeforeTrial
    this.#changes++
  }

  /** When the local opening ends (epoch milliseconds). */
  get openUntil(): number {
    return this.#openUntil
  }

  /** Counts a failure the store did not take; opens at the threshold (at once when half-open). */
  recordFailure(now: number, over?: CircuitRecord): void {
    this.#changes++
    this.#hooks.counting?.()
    const { failureThreshold, failureWindowMs } = this.#options
    if (this.#openUntil !== 0) {
      this.trip(now, over)
      return
    }
    if (this.#failures === 0 || now - this.#windowStartedAt >= failureWindowMs) {
      this.#failures = 0
      this.#windowStartedAt = now
    }
    this.#failures++
    if (this.#failures >= failureThreshold) this.trip(now, over)
  }

  /** Opens now: the threshold was reached (here, or in the store, which could not be told). */
  trip(now: number, over?: CircuitRecord): void {
    this.#changes++
    this.#failures = 0
    const opening = this.#openUntil === 0
    this.#openUntil = now + this.#options.resetTimeoutMs
    this.#hooks.counting?.()
    if (opening) this.#hooks.opened?.()
    if (over !== undefined) this.#openedOver = { incarnation: over.incarnation, generation: over.generation }
  }

  /** A call succeeded: the environment's own run of failures is over, and a trial closes it. */
  recordSuccess(): void {
    this.#changes++
    this.#failures = 0
    this.#openUntil = 0
  }

  /** The store took a write: its shared state decides again. */
  clear(): void {
    this.#changes++
    this.#failures = 0
    this.#openUntil = 0
    this.#openedOver = undefined
  }

  /** The store answered with `record`: if the circuit moved on since the local opening, it decides again. */
  learned(record: CircuitRecord): void {
    const over = this.#openedOver
    if (this.#openUntil === 0) return
    if (over === undefined || record.incarnation !== over.incarnation || record.generation !== over.generation) {
      this.clear()
    }
  }
}
