import { CircuitState, isCircuitOpenError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

describe('store cost of each path', () => {
  it('makes no store writes for successful calls on a healthy circuit', async () => {
    const { breaker, store, clock } = fleet(1, { cacheTtlMs: 1_000 })
    for (let i = 0; i < 100; i++) {
      await breaker.execute(succeeds)
      clock.advance(50)
    }
    expect(store.writes).toBe(0)
    // One read per cache period: 100 calls over 5 s with a 1 s cache.
    expect(store.reads).toBe(5)
  })

  it('reads on every decision and still writes nothing when the cache is off', async () => {
    const { breaker, store } = fleet(1, { cacheTtlMs: 0 })
    for (let i = 0; i < 10; i++) await breaker.execute(succeeds)
    expect(store.reads).toBe(10)
    expect(store.writes).toBe(0)
  })

  it('writes once to clear failures after a success, then nothing', async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 5 })
    await rejectionOf(breaker.execute(fails))
    store.resetCounts()
    await breaker.execute(succeeds)
    await breaker.execute(succeeds)
    expect(store.calls.get('resetFailures')).toBe(1)
    expect(store.writes).toBe(1)
  })

  it('costs one write per failure below the threshold and two for the one that opens', async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 3 })
    await breaker.getState()
    store.resetCounts()
    await rejectionOf(breaker.execute(fails))
    expect(store.writes).toBe(1)
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect(store.calls.get('addFailure')).toBe(3)
    expect(store.calls.get('transition')).toBe(1)
  })

  it('sends a probe from a cached OPEN view without reading first: one write enters half-open', async () => {
    const { breaker, store, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    store.resetCounts()
    const admission = await breaker.admit()
    expect(admission.admitted && admission.permit.isProbe).toBe(true)
    expect(store.reads).toBe(0)
    expect(store.calls.get('transition')).toBe(1)
  })

  it('recovers from a stale cached OPEN view with the answer to its failed write', async () => {
    const { breakers, clock, store } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await rejectionOf(a.execute(fails))
    await rejectionOf(b.execute(succeeds)) // b caches OPEN
    clock.advance(1_000)
    await a.execute(succeeds) // a probes and closes the circuit
    store.resetCounts()
    await expect(b.execute(succeeds)).resolves.toBe('ok') // b's stale view costs one failed write, no read
    expect(store.reads).toBe(0)
    expect(store.writes).toBe(1)
  })

  it('closes with the probe’s own write, never giving its lease back first', async () => {
    const { breaker, store, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    store.resetCounts()
    await breaker.execute(succeeds)
    expect(Object.fromEntries(store.calls)).toEqual({ transition: 2 })
    expect((await breaker.getState()).state).toBe('CLOSED')
  })

  it('rejects from the cache while open, reading at most once per cache TTL', async () => {
    const { breaker, store, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 10_000, cacheTtlMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    store.resetCounts()
    for (let i = 0; i < 50; i++) {
      expect(isCircuitOpenError(await rejectionOf(breaker.execute(succeeds)))).toBe(true)
      clock.advance(150) // 7.5 s in all, before the 10 s retry time
    }
    // An operator's change must reach an open environment within the TTL, so it reads once per TTL.
    expect(Object.fromEntries(store.calls)).toEqual({ get: 7 })
  })
})

describe('the local state cache', () => {
  it('learns of a fleet-wide open from the answer to its first failure', async () => {
    const { breakers } = fleet(2, { failureThreshold: 2, cacheTtlMs: 60_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await b.execute(succeeds) // b caches CLOSED for a minute
    await rejectionOf(a.execute(fails))
    await rejectionOf(a.execute(fails)) // a opens the circuit
    let downstreamCalls = 0
    const downstream = async () => {
      downstreamCalls++
      throw Object.assign(new Error('timeout'), { name: 'TimeoutError' })
    }
    await rejectionOf(b.execute(downstream)) // b still trusts its cache: one call leaks...
    const error = await rejectionOf(b.execute(downstream)) // ...and its failure told it the circuit is open
    expect(downstreamCalls).toBe(1)
    expect(isCircuitOpenError(error)).toBe(true)
  })

  it('trusts a cached CLOSED state for at most cacheTtlMs', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, cacheTtlMs: 2_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await b.execute(succeeds)
    await rejectionOf(a.execute(fails))
    clock.advance(1_999)
    await expect(b.execute(succeeds)).resolves.toBe('ok')
    clock.advance(1)
    expect(isCircuitOpenError(await rejectionOf(b.execute(succeeds)))).toBe(true)
  })

  it('learns of a successful probe within 250 ms while it sees every probe slot taken', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000, probeLeaseMs: 10_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await rejectionOf(a.execute(fails))
    clock.advance(1_000)
    const probe = await a.admit()
    expect(await rejectionOf(b.execute(succeeds))).toMatchObject({ reason: 'probes-busy' }) // b caches the busy view
    if (!probe.admitted) throw new Error('expected the probe')
    await probe.permit.recordSuccess()
    clock.advance(249)
    expect(await rejectionOf(b.execute(succeeds))).toMatchObject({ reason: 'probes-busy' })
    clock.advance(1)
    await expect(b.execute(succeeds)).resolves.toBe('ok')
  })

  it('goes to the store when a cached OPEN reaches its retry time', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await rejectionOf(a.execute(fails))
    await rejectionOf(b.execute(succeeds)) // b caches OPEN
    clock.advance(1_000)
    await expect(b.execute(succeeds)).resolves.toBe('ok') // b's probe closes it
    expect((await a.getState()).state).toBe(CircuitState.CLOSED)
  })
})
