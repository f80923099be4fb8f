/**
 * Limits the calls in flight on one breaker instance, with a bounded queue of waiting calls.
 * Taking a free slot is synchronous, so the common case costs no promise. A waiting call gives
 * up after `maxWaitMs`, so a slot that is never given back cannot hold later calls forever.
 */
export class ConcurrencyLimiter {
  readonly #maxConcurrent: number
  readonly #maxQueued: number
  readonly #maxWaitMs: number
  #active = 0
  readonly #waiting: Array<() => void> = []
  /**
   * `#waiting.length`, kept on this object: the hot path's release then reads no second object,
   * which matters when thousands of breakers' state competes for the CPU cache.
   */
  #queued = 0

  constructor(maxConcurrent: number, maxQueued: number, maxWaitMs: number) {
    this.#maxConcurrent = maxConcurrent
    this.#maxQueued = maxQueued
    this.#maxWaitMs = maxWaitMs
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
   * Waits for a slot (the caller checked {@link canQueue}). Resolves `true` holding the slot, or
   * `false` without one when `maxWaitMs` passed first; rejects with the signal's reason if the
   * caller gives up first.
   */
  wait(signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', abandon)
        const index = this.#waiting.indexOf(grant)
        if (index >= 0) {
          this.#waiting.splice(index, 1)
          this.#queued = this.#waiting.length
        }
      }
      const grant = (): void => {
        leave()
        resolve(true)
      }
      const abandon = (): void => {
        leave()
        reject(signal?.reason)
      }
      const timer = setTimeout(() => {
        leave()
        resolve(false)
      }, this.#maxWaitMs)
      this.#queued = this.#waiting.push(grant)
      signal?.addEventListener('abort', abandon, { once: true })
    })
  }

  /** Gives a slot back, handing it straight to the longest-waiting call if there is one. */
  release(): void {
    // Checked first: shifting an empty array is a call the hot path need not pay for.
    if (this.#queued === 0) {
      this.#active--
      return
    }
    const next = this.#waiting.shift() as () => void
    this.#queued = this.#waiting.length
    next()
  }
}
