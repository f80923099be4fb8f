/**
 * How long a circuit stays open after its `openCount`-th consecutive opening:
 * `resetTimeoutMs × 2^(openCount − 1)`, capped at `maxResetTimeoutMs`. The count goes back to zero
 * when the circuit closes, so the first open after a recovery waits `resetTimeoutMs` again.
 *
 * @example
 * ```ts
 * retryDelayMs(3, 10_000, 300_000) // 40_000
 * ```
 */
export function retryDelayMs(openCount: number, resetTimeoutMs: number, maxResetTimeoutMs: number): number {
  const exponent = Math.max(0, openCount - 1)
  // 2^exponent overflows to Infinity for absurd counts, which the cap then absorbs.
  return Math.min(maxResetTimeoutMs, resetTimeoutMs * 2 ** exponent)
}
