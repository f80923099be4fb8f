/**
 * The wall clock for the hot lane's one question, "is the cached view still trusted?", read without
 * paying for `Date.now()` on every call of a burst.
 *
 * A clock read costs about as much as the rest of a healthy call (40-odd ns on the virtualised
 * hosts the benchmarks ran on). Calls made back to back within one turn of the event loop (one
 * callback and the promise reactions it sets off) share readings: once
 * {@link SAME_MILLISECOND_READS} reads in a row (in this turn or the ones just before it) have seen
 * the same millisecond, later reads in the turn reuse the last reading and read the clock afresh
 * every {@link READS_PER_READING}th time; when that fresh reading shows the clock moved on, they
 * stop sharing until another such run. The turn ends, and with it the sharing, in a
 * `process.nextTick` callback, which Node runs once the turn's promise reactions are done, before
 * the next timer, I/O callback or invocation. So:
 * - the first read of a turn reads the clock: an invocation after a freeze, a timer, an I/O answer
 *   start from a fresh reading. Two exceptions, where only the next bound holds: another tick
 *   callback threw and an `uncaughtException` handler kept the process going (Node then runs the
 *   next turn before the rest of the ticks), and fake timers put in place of `process.nextTick`
 *   before this module loaded (its callbacks run only when the test moves the fake clock);
 * - any reading is reused by at most {@link READS_PER_READING} − 1 later reads, even when the
 *   turn's own work outlasts the view's trust. A call that a reused reading lets onto the hot lane
 *   would have waited, on a fresh one, for a store read: at most that many calls, over every
 *   breaker on the wall clock, go ahead on a view whose trust just ended.
 * Calls one per turn, as invocations are, read the clock every time and schedule a tick at most
 * once per run of {@link SAME_MILLISECOND_READS} reads in one millisecond; bursts schedule one per
 * turn.
 */

/**
 * Reads in a row that see the same millisecond before the rest of the turn shares readings: a
 * burst long enough that sharing saves more clock reads than the end-of-turn callback costs.
 */
export const SAME_MILLISECOND_READS = 32
/** Reads per clock reading, once readings are shared. */
export const READS_PER_READING = 16

/**
 * `Date.now` as this module found it: fake timers installed later replace it, and their clock,
 * which a test moves within a turn, is read every time.
 */
const engineDateNow: () => number = Date.now

/** `process.nextTick` as this module found it; without one, no readings are shared. */
const nextTick: ((callback: () => void) => void) | undefined =
  typeof process === 'object' && typeof process?.nextTick === 'function' ? process.nextTick : undefined

/** The turn clock over the engine's `Date.now`, shared by every breaker on it; made on first use. */
let wallTurnClock: (() => number) | undefined

/**
 * The clock the hot lane reads for a breaker whose clock is `now`. For the engine's own `Date.now`
 * (as it is when the breaker is made) and `process.nextTick`, the turn clock over it, shared by
 * every such breaker. Any other clock is read as it is, every time: an injected `now`, and fake
 * timers (which replace `Date.now` or `process.nextTick`), whose time a test moves within a turn.
 */
export function hotLaneClock(now: () => number): () => number {
  const wallClock = now === Date.now && now === engineDateNow && isEngineFunction(now)
  if (nextTick === undefined || process.nextTick !== nextTick || !wallClock) return now
  wallTurnClock ??= turnClockOf(now)
  return wallTurnClock
}

/** Whether `fn` is built into the engine rather than written in JavaScript (a fake's replacement). */
function isEngineFunction(fn: () => number): boolean {
  return Function.prototype.toString.call(fn).includes('[native code]')
}

/**
 * `now`, with readings shared within a burst of reads in one turn of the event loop (see the
 * module's comment); `scheduleEnd` runs a callback when the turn ends.
 */
export function turnClockOf(
  now: () => number,
  scheduleEnd: ((callback: () => void) => void) | undefined = nextTick,
): () => number {
  if (scheduleEnd === undefined) return now
  const schedule = scheduleEnd
  let lastReading = Number.NaN
  /** Reads in a row that saw `lastReading`, before sharing. */
  let sameReadings = 0
  /** Whether reads share `lastReading`: set in a turn, cleared when it ends or the clock moves. */
  let sharing = false
  /** Reads of `lastReading` since it was read, while sharing. */
  let readsOfReading = 0
  /** Whether the end of the current turn is scheduled. */
  let endScheduled = false
  const endTurn = (): void => {
    sharing = false
    sameReadings = 0
    endScheduled = false
  }
  return (): number => {
    if (sharing) {
      if (++readsOfReading < READS_PER_READING) return lastReading
      readsOfReading = 0
      const reading = now()
      if (reading !== lastReading) {
        // The clock moved within the turn (its work took time): share again only after another run.
        sharing = false
        sameReadings = 1
      }
      lastReading = reading
      return reading
    }
    const reading = now()
    if (reading !== lastReading) {
      sameReadings = 1
    } else if (++sameReadings >= SAME_MILLISECOND_READS) {
      sharing = true
      readsOfReading = 0
      if (!endScheduled) {
        endScheduled = true
        schedule(endTurn)
      }
    }
    lastReading = reading
    return reading
  }
}
