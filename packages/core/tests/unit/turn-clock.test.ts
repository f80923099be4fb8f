import { stat } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals'
import { hotLaneClock, READS_PER_READING, SAME_MILLISECOND_READS, turnClockOf } from '../../src/turn-clock.js'

/** Resolves in a later turn of the event loop, after the current one's ticks and reactions. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

// The hot lane's clock shares readings within a burst of calls in one turn. What the view's trust
// bound rests on: a new turn always reads the clock, and a shared reading is only a few reads old.
describe('the hot lane clock', () => {
  let wallClock = 0
  let clockReads = 0
  let turnClock: () => number = () => Number.NaN
  beforeEach(() => {
    wallClock = 1_000_000
    clockReads = 0
    turnClock = turnClockOf(() => {
      clockReads += 1
      return wallClock
    })
  })

  /** Reads the clock in one millisecond until this turn shares readings. */
  function startBurst(): void {
    for (let read = 0; read < SAME_MILLISECOND_READS; read += 1) turnClock()
  }

  it('reads the clock on every read while reads fall in different milliseconds', () => {
    for (let read = 0; read < 50; read += 1) {
      wallClock += 1
      expect(turnClock()).toBe(wallClock)
    }
    expect(clockReads).toBe(50)
  })

  it('reads the clock afresh in every new turn, however long a burst before it shared a reading', async () => {
    startBurst()
    const burstTime = wallClock
    wallClock += 60_000 // the environment is frozen for a minute
    expect(turnClock()).toBe(burstTime) // the rest of the burst's turn may reuse its reading
    await nextTurn()
    expect(turnClock()).toBe(wallClock)
  })

  it.each([
    ['a timer', () => new Promise<void>((resolve) => setTimeout(resolve, 0))],
    ['an immediate', nextTurn],
    ['an I/O callback', () => new Promise<void>((resolve) => stat(process.execPath, () => resolve()))],
  ])('reads the clock afresh in %s that follows a burst', async (_name, turn) => {
    startBurst()
    wallClock += 5_000
    await turn()
    expect(turnClock()).toBe(wallClock)
  })

  it('reads the clock afresh in a timer due at the same time as the one that made a burst', async () => {
    const second = new Promise<number>((resolve) => {
      setTimeout(() => {
        startBurst()
        wallClock += 5_000
      }, 1)
      setTimeout(() => resolve(turnClock()), 1)
    })
    expect(await second).toBe(wallClock)
  })

  it('ends the sharing of every burst, not only the first', async () => {
    for (let burst = 0; burst < 3; burst += 1) {
      startBurst()
      await Promise.resolve() // the burst goes on through promise reactions, in the same turn
      turnClock()
      wallClock += 5_000
      await nextTurn()
      expect(turnClock()).toBe(wallClock)
    }
  })

  it(`reuses a reading for at most ${READS_PER_READING - 1} later reads within a turn`, () => {
    startBurst()
    const burstTime = wallClock
    wallClock += 1_000
    const seen: number[] = []
    for (let read = 0; read < 3 * READS_PER_READING; read += 1) seen.push(turnClock())
    const firstNew = seen.indexOf(wallClock)
    expect(firstNew).toBeGreaterThanOrEqual(0)
    expect(firstNew).toBeLessThanOrEqual(READS_PER_READING - 1)
    expect(seen.slice(0, firstNew).every((time) => time === burstTime)).toBe(true)
    expect(seen.slice(firstNew).every((time) => time === wallClock)).toBe(true)
  })

  it('stops sharing within a turn once the clock has moved on, as when the turn does long work', () => {
    startBurst()
    wallClock += 1_000 // synchronous work outlasts the view's trust
    for (let read = 0; read < READS_PER_READING; read += 1) turnClock() // the last one reads afresh
    wallClock += 1_000
    expect(turnClock()).toBe(wallClock)
  })

  it('shares again only after another run of reads in one millisecond once the clock has moved', () => {
    startBurst()
    wallClock += 1
    for (let read = 0; read < READS_PER_READING; read += 1) turnClock() // the last one sees the move
    const readsBefore = clockReads
    for (let read = 1; read < SAME_MILLISECOND_READS; read += 1) turnClock()
    expect(clockReads - readsBefore).toBe(SAME_MILLISECOND_READS - 1)
  })

  it('schedules no end of turn per turn when each turn reads once, however close together', async () => {
    let ends = 0
    const clock = turnClockOf(
      () => wallClock,
      (callback) =>
        process.nextTick(() => {
          ends += 1
          callback()
        }),
    )
    for (let turn = 0; turn < 3 * SAME_MILLISECOND_READS; turn += 1) {
      clock()
      await nextTurn()
    }
    // At most one end of turn scheduled per run of reads in one millisecond, never one per turn.
    expect(ends).toBeLessThanOrEqual(3)
  })
})

describe('which clock the hot lane reads', () => {
  afterEach(() => {
    jest.restoreAllMocks()
  })

  it('shares one turn clock over the engine’s Date.now between breakers', () => {
    const wall = hotLaneClock(Date.now)
    expect(wall).not.toBe(Date.now)
    expect(hotLaneClock(Date.now)).toBe(wall)
  })

  it('reads an injected clock as it is, every time', () => {
    const injected = (): number => 42
    expect(hotLaneClock(injected)).toBe(injected)
  })

  it('reads a faked Date.now as it is, every time, so a test can move it within a turn', () => {
    jest.spyOn(Date, 'now').mockImplementation(() => 42)
    expect(hotLaneClock(Date.now)).toBe(Date.now)
  })

  it('reads a replacement of Date.now as it is, every time, even one that looks built in', () => {
    const engineDateNow = Date.now
    const replacement = ((): number => 42).bind(null)
    Date.now = replacement
    try {
      expect(hotLaneClock(Date.now)).toBe(replacement)
    } finally {
      Date.now = engineDateNow
    }
  })

  it('reads a Date.now faked before it was loaded as it is, every time', async () => {
    const engineDateNow = Date.now
    const fake = (): number => 42
    Date.now = fake
    try {
      let loaded: typeof import('../../src/turn-clock.js') | undefined
      await jest.isolateModulesAsync(async () => {
        loaded = await import('../../src/turn-clock.js')
      })
      expect(loaded?.hotLaneClock(Date.now)).toBe(fake)
    } finally {
      Date.now = engineDateNow
    }
  })

  it('reads Date.now every time while process.nextTick is faked, whose callbacks might never run', () => {
    jest.spyOn(process, 'nextTick').mockImplementation(() => undefined)
    expect(hotLaneClock(Date.now)).toBe(Date.now)
  })
})
