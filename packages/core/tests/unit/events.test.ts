import { CircuitState, type StateChangeListener } from '@fleet-breaker/core'
import { describe, expect, it, jest } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

describe('state change events', () => {
  it('tells a transition this instance made from one it observed', async () => {
    const { breakers } = fleet(2, { failureThreshold: 1, cacheTtlMs: 0 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const seenByB = jest.fn<StateChangeListener>()
    await b.execute(succeeds)
    b.onStateChange(seenByB)
    await rejectionOf(a.execute(fails))
    await rejectionOf(b.execute(succeeds))
    expect(seenByB).toHaveBeenCalledTimes(1)
    expect(seenByB.mock.calls[0]?.[0]).toMatchObject({
      circuitId: 'payment-api',
      from: CircuitState.CLOSED,
      to: CircuitState.OPEN,
      origin: 'observed',
    })
  })

  it('tells an unseen probe-and-close from a reset when it observes OPEN become CLOSED', async () => {
    const { breakers, clock } = fleet(3, { failureThreshold: 1, resetTimeoutMs: 1_000, cacheTtlMs: 0 })
    const [a, b, operator] = breakers as [(typeof breakers)[0], (typeof breakers)[0], (typeof breakers)[0]]
    const seenByB = jest.fn<StateChangeListener>()
    b.onStateChange(seenByB)
    await b.execute(succeeds) // b sees CLOSED
    await rejectionOf(a.execute(fails))
    await rejectionOf(b.execute(succeeds)) // b sees OPEN
    clock.advance(1_000)
    await a.execute(succeeds) // a probes and closes
    await b.execute(succeeds) // b sees CLOSED, two generations on
    await rejectionOf(a.execute(fails))
    await rejectionOf(b.execute(succeeds)) // OPEN again
    await operator.reset()
    await b.execute(succeeds)
    expect(seenByB.mock.calls.map(([change]) => `${change.from}->${change.to} ${change.reason}`)).toEqual([
      'CLOSED->OPEN failure-threshold',
      'OPEN->CLOSED probe-succeeded',
      'CLOSED->OPEN failure-threshold',
      'OPEN->CLOSED reset',
    ])
  })

  it('stops calling a listener once unsubscribed', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1 })
    const listener = jest.fn<StateChangeListener>()
    const unsubscribe = breaker.onStateChange(listener)
    unsubscribe()
    await rejectionOf(breaker.execute(fails))
    expect(listener).not.toHaveBeenCalled()
  })

  it('never lets a throwing or rejecting listener break a call', async () => {
    const { breaker, logger } = fleet(1, { failureThreshold: 1 })
    breaker.onStateChange(() => {
      throw new Error('listener bug')
    })
    breaker.onStateChange(async () => {
      throw new Error('async listener bug')
    })
    const error = await rejectionOf(breaker.execute(fails))
    expect((error as Error).message).toBe('downstream answered 503')
    await new Promise((resolve) => setImmediate(resolve))
    expect(logger.entries.filter((entry) => entry.level === 'error')).toHaveLength(2)
  })

  it('carries the time from the injected clock and the record after the change', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const listener = jest.fn<StateChangeListener>()
    breaker.onStateChange(listener)
    await rejectionOf(breaker.execute(fails))
    expect(listener.mock.calls[0]?.[0]).toMatchObject({
      at: clock.now(),
      record: { state: CircuitState.OPEN, retryAt: clock.now() + 1_000 },
    })
  })
})
