import { deriveSeed, exponentialGapMs, seededRandom } from './random.js'

/** What an arrival schedule is drawn from. */
export interface ScheduleOptions {
  /** How many execution environments receive invocations. */
  readonly environments: number
  /** Seeds the draws: the same seed gives the same schedule. */
  readonly seed: number
  /** Arrivals are drawn in `[0, durationMs)`. */
  readonly durationMs: number
  /** Mean invocations a second, per environment. */
  readonly invocationsPerSecond: number
}

/**
 * When each environment is invoked, in milliseconds from the start of the run: one ascending list
 * per environment, drawn as independent Poisson processes from the seed.
 *
 * @example
 * ```ts
 * const schedule = arrivalSchedule({ environments: 3, seed: 7, durationMs: 1_000, invocationsPerSecond: 10 })
 * schedule[0] // e.g. [41.2, 130.9, 188.4, ...]: environment 0's invocation times
 * ```
 */
export function arrivalSchedule(options: ScheduleOptions): number[][] {
  const { environments, seed, durationMs, invocationsPerSecond } = options
  return Array.from({ length: environments }, (_, index) => {
    const random = seededRandom(deriveSeed(seed, index))
    const arrivals: number[] = []
    for (let at = exponentialGapMs(random, invocationsPerSecond); at < durationMs; ) {
      arrivals.push(at)
      at += exponentialGapMs(random, invocationsPerSecond)
    }
    return arrivals
  })
}
