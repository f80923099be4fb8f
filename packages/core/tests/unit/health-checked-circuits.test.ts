import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  isCircuitOpenError,
  isInvalidConfigurationError,
  isInvalidPermitError,
  MemoryStore,
  resolveOptions,
  toPortablePermit,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const failing = () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))

function setup(options: Partial<CircuitBreakerOptions> = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const make = (extra: Partial<CircuitBreakerOptions> = {}) =>
    new CircuitBreaker({
      circuitId: 'payment-api',
      store,
      failureThreshold: 1,
      resetTimeoutMs: 10_000,
      now: clock.now,
      logger: silent,
      ...options,
      ...extra,
    })
  return { clock, store, make }
}

describe('liveProbes: false', () => {
  it('rejects live calls once the retry time has come, until the missed-checks grace has passed', async () => {
    const { clock, make } = setup({ liveProbes: false, healthCheckIntervalMs: 60_000, missedChecks: 3 })
    const live = make()
    await expect(live.execute(failing)).rejects.toThrow('down')
    clock.advance(10_000)
    let called = 0
    const call = () => live.execute(async () => ++called)
    const rejection = await call().catch((error: unknown) => error)
    expect(isCircuitOpenError(rejection) && rejection.reason).toBe('open')
    expect(isCircuitOpenError(rejection) && rejection.retryAfterMs).toBe(60_000)
    clock.advance(3 * 60_000 - 1)
    await expect(call()).rejects.toMatchObject({ name: 'CircuitOpenError' })
    expect(called).toBe(0)
    // The checker has missed three runs: a live call is the probe again, and its success closes.
    clock.advance(1)
    await expect(call()).resolves.toBe(1)
    expect((await live.getState()).state).toBe('CLOSED')
  })

  it('costs at most one store read per cacheTtlMs while waiting for the checker', async () => {
    const { clock, store, make } = setup({ liveProbes: false, cacheTtlMs: 5_000 })
    const live = make()
    await expect(live.execute(failing)).rejects.toThrow('down')
    clock.advance(10_000)
    store.resetCounts()
    for (let call = 0; call < 20; call++) await live.execute(async () => 'never').catch(() => undefined)
    expect(store.roundTrips).toBe(1)
    clock.advance(5_000)
    await live.execute(async () => 'never').catch(() => undefined)
    expect(store.roundTrips).toBe(2)
  })

  it('sees the close a checker made within cacheTtlMs', async () => {
    const { clock, make } = setup({ liveProbes: false, cacheTtlMs: 1_000 })
    const live = make()
    const checker = make({ cacheTtlMs: 0 })
    await expect(live.execute(failing)).rejects.toThrow('down')
    clock.advance(10_000)
    await expect(live.execute(async () => 'x')).rejects.toMatchObject({ name: 'CircuitOpenError' })
    const probe = await checker.admitProbe()
    if (!probe.admitted) throw new Error('the checker should be the probe')
    await probe.permit.recordSuccess()
    clock.advance(1_000)
    await expect(live.execute(async () => 'x')).resolves.toBe('x')
  })

  it.each([
    [{ liveProbes: 'no' }, {}, 'liveProbes'],
    [{}, { CIRCUIT_BREAKER_LIVE_PROBES: 'maybe' }, 'CIRCUIT_BREAKER_LIVE_PROBES'],
    [{ missedChecks: 0 }, {}, 'missedChecks'],
    [{ healthCheckIntervalMs: -1 }, {}, 'healthCheckIntervalMs'],
    [{}, { CIRCUIT_BREAKER_MISSED_CHECKS: 'three' }, 'CIRCUIT_BREAKER_MISSED_CHECKS'],
  ])('refuses %j (env %j), naming %s', (options, env, name) => {
    const attempt = () => resolveOptions({ circuitId: 'x', store: new MemoryStore(), ...options } as never, env)
    expect(attempt).toThrow(name)
    try {
      attempt()
    } catch (error) {
      expect(isInvalidConfigurationError(error) && error.option).toBe(name)
    }
  })

  it('reads its settings from the environment', () => {
    const env = { CIRCUIT_BREAKER_LIVE_PROBES: 'false', CIRCUIT_BREAKER_MISSED_CHECKS: '5' }
    const resolved = resolveOptions({ circuitId: 'x', store: new MemoryStore() }, env)
    expect(resolved).toMatchObject({ liveProbes: false, missedChecks: 5, healthCheckIntervalMs: 60_000 })
  })
})

describe('admitProbe (a scheduled check as the probe)', () => {
  it('probes only a circuit that wants a probe, and never moves the retry time', async () => {
    const { clock, make } = setup({ liveProbes: false })
    const live = make()
    const checker = make({ cacheTtlMs: 0 })
    expect(await checker.admitProbe()).toMatchObject({ admitted: false, reason: 'closed', state: 'CLOSED' })
    await expect(live.execute(failing)).rejects.toThrow('down')
    const retryAt = (await live.getState()).changedAt + 10_000
    clock.advance(4_000)
    expect(await checker.admitProbe()).toMatchObject({ admitted: false, reason: 'not-due', retryAfterMs: 6_000 })
    const { record } = await live.getState()
    expect(record.state === 'OPEN' && record.retryAt).toBe(retryAt)
    clock.advance(6_000)
    const probe = await checker.admitProbe()
    expect(probe.admitted && probe.permit.isProbe).toBe(true)
    expect(await make({ cacheTtlMs: 0 }).admitProbe()).toMatchObject({ admitted: false, reason: 'probes-busy' })
    if (probe.admitted) await probe.permit.recordFailure()
    expect(await live.getState()).toMatchObject({ state: 'OPEN', openCount: 2, retryAfterMs: 20_000 })
  })

  it('leaves an operator override alone', async () => {
    const { make } = setup()
    const checker = make({ cacheTtlMs: 0 })
    await checker.forceOpen({ reason: 'maintenance' })
    expect(await checker.admitProbe()).toMatchObject({ admitted: false, reason: 'forced', state: 'OPEN' })
  })
})

describe('portable permits', () => {
  it('carry a probe through JSON to another breaker, which settles it', async () => {
    const { clock, make } = setup()
    const first = make()
    await expect(first.execute(failing)).rejects.toThrow('down')
    clock.advance(10_000)
    const admission = await first.admit()
    if (!admission.admitted) throw new Error('expected the probe')
    const carried = JSON.parse(JSON.stringify(toPortablePermit(admission.permit))) as unknown
    expect(carried).toMatchObject({ version: 1, circuitId: 'payment-api', mode: 'probe', openCount: 1 })
    // Handed over: the original records nothing, and cannot be handed over twice.
    await expect(admission.permit.recordFailure()).resolves.toBe('ignored')
    expect(() => toPortablePermit(admission.permit)).toThrow('a permit not settled yet')
    const second = make()
    const resumed = second.resumePermit(carried)
    expect(resumed.isProbe).toBe(true)
    await expect(resumed.recordSuccess()).resolves.toBe('success')
    expect((await first.getState()).state).toBe('CLOSED')
  })

  it("frees the admitting breaker's concurrency slot when handed over", async () => {
    const { make } = setup({ maxConcurrent: 1, maxQueued: 0 })
    const breaker = make()
    for (let handedOver = 0; handedOver < 3; handedOver++) {
      const admission = await breaker.admit()
      if (!admission.admitted) throw new Error(`admission ${handedOver} was refused: ${admission.error.message}`)
      toPortablePermit(admission.permit)
    }
  })

  it('refuses what is not a permit of this circuit', () => {
    const { make } = setup()
    const breaker = make()
    for (const bad of [null, [], { version: 1 }, { version: 1, circuitId: 'other', mode: 'counted' }]) {
      expect(() => breaker.resumePermit(bad)).toThrow(/^permit/)
      try {
        breaker.resumePermit(bad)
      } catch (error) {
        expect(isInvalidPermitError(error)).toBe(true)
        expect((error as Error).name).toBe('InvalidPermitError')
      }
    }
    expect(() => toPortablePermit({} as never)).toThrow('a permit returned by admit()')
  })
})
