import {
  BreakerRegistry,
  CircuitState,
  FailoverExhaustedError,
  failover,
  InvalidConfigurationError,
  isFailoverExhaustedError,
  MemoryStore,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it, jest } from '@jest/globals'
import { BadRequest, recordingLogger, ServiceUnavailable } from './support.js'

function registry(options: { downstreams?: Record<string, { failureThreshold?: number }> } = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const breakers = new BreakerRegistry({
    store,
    now: clock.now,
    logger: recordingLogger(),
    failureThreshold: 2,
    ...options,
  })
  return { breakers, store, clock }
}

describe('BreakerRegistry', () => {
  it('creates one breaker per downstream, once, with the downstream as its circuit id', () => {
    const { breakers } = registry()
    const payment = breakers.get('payment')
    expect(breakers.get('payment')).toBe(payment)
    expect(payment.circuitId).toBe('payment')
    expect(breakers.get('inventory')).not.toBe(payment)
    expect(breakers.names()).toEqual(['payment', 'inventory'])
  })

  it('applies per-downstream options over the shared ones', () => {
    const { breakers } = registry({ downstreams: { payment: { failureThreshold: 7 } } })
    expect(breakers.get('payment').options.failureThreshold).toBe(7)
    expect(breakers.get('inventory').options.failureThreshold).toBe(2)
  })

  it('prefixes circuit ids when asked', () => {
    const breakers = new BreakerRegistry({ store: new MemoryStore(), circuitIdPrefix: 'checkout:' })
    expect(breakers.get('payment').circuitId).toBe('checkout:payment')
  })

  it('keeps downstreams independent: one failing leaves the other closed', async () => {
    const { breakers } = registry()
    for (let i = 0; i < 2; i++)
      await breakers
        .get('payment')
        .execute(() => Promise.reject(new ServiceUnavailable()))
        .catch(() => {})
    await expect(breakers.get('inventory').execute(async () => 'reserved')).resolves.toBe('reserved')
    const states = await breakers.states()
    expect(states.get('payment')?.state).toBe(CircuitState.OPEN)
    expect(states.get('inventory')?.state).toBe(CircuitState.CLOSED)
  })

  it('reads every state in one store round trip', async () => {
    const { breakers, store } = registry()
    breakers.get('payment')
    breakers.get('inventory')
    breakers.get('shipping')
    store.resetCounts()
    const states = await breakers.states()
    expect([...states.keys()]).toEqual(['payment', 'inventory', 'shipping'])
    expect(store.roundTrips).toBe(1)
  })

  it('rejects a blank downstream name', () => {
    expect(() => registry().breakers.get(' ')).toThrow(InvalidConfigurationError)
  })
})

describe('failover', () => {
  it('uses the first provider that works and says which', async () => {
    const { breakers } = registry()
    const backup = jest.fn(async () => 'sent by backup')
    const result = await failover([
      { name: 'primary', breaker: breakers.get('primary'), call: async () => Promise.reject(new ServiceUnavailable()) },
      { name: 'backup', breaker: breakers.get('backup'), call: backup },
      { name: 'last', breaker: breakers.get('last'), call: async () => 'unused' },
    ])
    expect(result).toMatchObject({ value: 'sent by backup', provider: 'backup' })
    expect(result.attempts).toEqual([expect.objectContaining({ provider: 'primary', outcome: 'failed' })])
  })

  it('skips a provider whose circuit is open without calling it', async () => {
    const { breakers } = registry()
    const primary = breakers.get('primary')
    for (let i = 0; i < 2; i++) await primary.execute(() => Promise.reject(new ServiceUnavailable())).catch(() => {})
    const primaryCall = jest.fn(async () => 'primary')
    const result = await failover([
      { breaker: primary, call: primaryCall },
      { breaker: breakers.get('backup'), call: async () => 'backup' },
    ])
    expect(primaryCall).not.toHaveBeenCalled()
    expect(result.provider).toBe('backup')
    expect(result.attempts).toEqual([expect.objectContaining({ provider: 'primary', outcome: 'rejected' })])
  })

  it('stops at an error the breaker does not count: another provider would refuse it too', async () => {
    const { breakers } = registry()
    const badRequest = new BadRequest()
    const backup = jest.fn(async () => 'backup')
    await expect(
      failover([
        { breaker: breakers.get('primary'), call: async () => Promise.reject(badRequest) },
        { breaker: breakers.get('backup'), call: backup },
      ]),
    ).rejects.toBe(badRequest)
    expect(backup).not.toHaveBeenCalled()
  })

  it('throws FailoverExhaustedError with every attempt when all are down', async () => {
    const { breakers } = registry()
    const error = await failover([
      { breaker: breakers.get('a'), call: async () => Promise.reject(new ServiceUnavailable()) },
      { breaker: breakers.get('b'), call: async () => Promise.reject(new ServiceUnavailable()) },
    ]).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(FailoverExhaustedError)
    expect(isFailoverExhaustedError(error) && error.attempts.map((attempt) => attempt.provider)).toEqual(['a', 'b'])
  })
})
