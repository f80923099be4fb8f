/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same sequence, so
 * a simulation's arrival schedule repeats exactly. Not for anything security-related.
 *
 * @example
 * ```ts
 * const random = seededRandom(42)
 * const roll = random() // in [0, 1), the same on every run with seed 42
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = state
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * Derives an independent seed for stream `index` of a seeded run, so each environment's draws
 * depend only on the run's seed and its own index, not on how many environments there are.
 *
 * @example
 * ```ts
 * const third = seededRandom(deriveSeed(42, 2))
 * ```
 */
export function deriveSeed(seed: number, index: number): number {
  // The golden-ratio constant spreads consecutive indexes far apart in the seed space.
  return (Math.imul(index + 1, 0x9e3779b9) ^ (seed >>> 0)) >>> 0
}

/**
 * The gap to the next arrival of a Poisson process with `ratePerSecond` arrivals a second, in
 * milliseconds: what independent clients calling a function look like.
 *
 * @example
 * ```ts
 * const random = seededRandom(1)
 * const waitMs = exponentialGapMs(random, 5) // 200 ms on average
 * ```
 */
export function exponentialGapMs(random: () => number, ratePerSecond: number): number {
  // 1 - random() is in (0, 1], so the logarithm is finite.
  return (-Math.log(1 - random()) / ratePerSecond) * 1_000
}
