/** What the local breaker needs to know of the breaker's options. */
export interface LocalBreakerOptions {
  readonly failureThreshold: number
  readonly failureWindowMs: number
  readonly resetTimeoutMs: number
}

/**
 * A breaker of this environment alone, for while the shared store cannot be reached.
 *
 * A failure whose write to the store did not succeed is counted here instead of being dropped;
 * at the threshold the environment stops calling on its own, for `resetTimeoutMs`, then lets one
 * call through (a failure reopens it at once). So an environment is never less protected than a
 * breaker of its own would make it, whatever the store does. Once the store answers again its
 * shared state is the truth and this one is cleared.
 */
export class LocalBreaker {
  readonly #options: LocalBreakerOptions
  #failures = 0
  #windowStartedAt = 0
  #openUntil = 0

  constructor(options: LocalBreakerOptions) {
    this.#options = options
  }

  /** Whether this environment's own count has opened it at `now`. */
  isOpen(now: number): boolean {
    return now < this.#openUntil
  }

  /** When the local opening ends (epoch milliseconds). */
  get openUntil(): number {
    return this.#openUntil
  }

  /** Counts a failure the store did not take; opens at the threshold. */
  recordFailure(now: number): void {
    const { failureThreshold, failureWindowMs, resetTimeoutMs } = this.#options
    if (this.#failures === 0 || now - this.#windowStartedAt >= failureWindowMs) {
      this.#failures = 0
      this.#windowStartedAt = now
    }
    this.#failures++
    if (this.#failures >= failureThreshold) {
      this.#openUntil = now + resetTimeoutMs
      // After the opening, the next failure opens it again straight away (a one-call half-open).
      this.#failures = failureThreshold - 1
    }
  }

  /** A call succeeded: the environment's own run of failures is over. */
  recordSuccess(): void {
    this.#failures = 0
  }

  /** The store answered: its shared state decides again. */
  clear(): void {
    this.#failures = 0
    this.#openUntil = 0
  }
}
