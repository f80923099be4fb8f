/**
 * Limits the calls in flight on one breaker instance, with a bounded queue of waiting calls.
 * Taking a free slot is synchronous, so the common case costs no promise.
 */
export class ConcurrencyLimiter {
  readonly #maxConcurrent: number
  readonly #maxQueued: number
  #active = 0
  readonly #waiting: Array<() => void> = []

  constructor(maxConcurrent: number, maxQueued: number) {
    this.#maxConcurrent = maxConcurrent
    this.#maxQueued = maxQueued
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.#active >= this.#maxConcurrent) return false
    this.#active++
    return true
  }

  /** Whether a call that found no free slot may wait for one. */
  canQueue(): boolean {
    return this.#waiting.length < this.#maxQueued
  }

  /**
   * Waits for a slot (the caller checked {@link canQueue}). Resolves holding the slot; rejects with
   * the signal's reason if the caller gives up first.
   */
  wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', abandon)
        resolve()
      }
      const abandon = (): void => {
        const index = this.#waiting.indexOf(grant)
        if (index >= 0) this.#waiting.splice(index, 1)
        reject(signal?.reason)
      }
      this.#waiting.push(grant)
      signal?.addEventListener('abort', abandon, { once: true })
    })
  }

  /** Gives a slot back, handing it straight to the longest-waiting call if there is one. */
  release(): void {
    const next = this.#waiting.shift()
    if (next === undefined) this.#active--
    else next()
  }
}
