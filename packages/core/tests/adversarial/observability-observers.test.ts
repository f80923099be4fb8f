import { type BreakerObserver, CircuitBreaker, flushObservers, MemoryStore } from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it, jest } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { unhandledRejectionsDuring } from '../../../../test-support/unhandled-rejections.js'
import { fails, succeeds } from './support.js'

jest.setTimeout(60_000)

function breakerWith(observers: readonly BreakerObserver[]) {
  const clock = new ManualClock(1_700_000_000_000)
  const logger = recordingLogger()
  const breaker = new CircuitBreaker({
    circuitId: 'observed',
    store: new MemoryStore(),
    now: clock.now,
    logger,
    failureThreshold: 2,
    resetTimeoutMs: 1_000,
    observers,
  })
  return { clock, logger, breaker }
}

describe('an observer whose methods are async and reject', () => {
  it('never leaves an unhandled rejection (which ends a Lambda process) and is logged once', async () => {
    const rejecting: BreakerObserver = {
      onStateChange: async () => {
        throw new Error('sink down')
      },
      onFailureCounted: async () => {
        throw new Error('sink down')
      },
      onCallRejected: async () => {
        throw new Error('sink down')
      },
    }
    const { breaker, clock, logger } = breakerWith([rejecting])
    const unhandled = await unhandledRejectionsDuring(async () => {
      await expect(breaker.execute(fails)).rejects.toThrow()
      await expect(breaker.execute(fails)).rejects.toThrow()
      await expect(breaker.execute(succeeds)).rejects.toThrow(/open/i)
      clock.advance(1_000)
      await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    })
    expect(unhandled).toEqual([])
    expect(logger.at('error').filter((entry) => entry.message.includes('observer'))).toHaveLength(1)
  })
})

describe('flushObservers', () => {
  it('returns within its timeout when an observer never finishes flushing', async () => {
    const hung: BreakerObserver = { flush: () => new Promise<void>(() => undefined) }
    let flushedOther = false
    const other: BreakerObserver = {
      flush: async () => {
        flushedOther = true
      },
    }
    // Resolves at all (a hung flush would hold it forever, and the test with it).
    await flushObservers([hung, other], undefined, { timeoutMs: 50 })
    expect(flushedOther).toBe(true)
  })

  it('never rejects, whatever the observer or the logger throws', async () => {
    const throwing: BreakerObserver = {
      flush: () => {
        throw new Error('sync throw')
      },
    }
    const loggerThatThrows = {
      debug() {},
      info() {},
      warn() {},
      error() {
        throw new Error('logger down')
      },
    }
    await expect(flushObservers([throwing], loggerThatThrows)).resolves.toBeUndefined()
  })
})

describe('an observer that uses the breaker it observes', () => {
  it('can call the breaker from onStateChange without breaking the call that made the change', async () => {
    const seen: string[] = []
    let breaker: CircuitBreaker | undefined
    const reentrant: BreakerObserver = {
      onStateChange: (change) => {
        seen.push(`${change.from}->${change.to}`)
        void breaker?.getState().then((snapshot) => seen.push(`state:${snapshot.state}`))
      },
    }
    const built = breakerWith([reentrant])
    breaker = built.breaker
    await expect(breaker.execute(fails)).rejects.toThrow()
    await expect(breaker.execute(fails)).rejects.toThrow()
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual(['CLOSED->OPEN', 'state:OPEN'])
  })
})
