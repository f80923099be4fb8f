import { CircuitBreaker, type CircuitBreakerOptions, type CircuitStore, MemoryStore } from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock, type StoreFault, type StoreOperation } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const failing = () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))

function breaker(store: CircuitStore, clock: ManualClock, extra: Partial<CircuitBreakerOptions> = {}) {
  return new CircuitBreaker({
    circuitId: 'payment-api',
    store,
    failureThreshold: 1,
    resetTimeoutMs: 10_000,
    cacheTtlMs: 0,
    storeTimeoutMs: 200,
    now: clock.now,
    logger: silent,
    ...extra,
  })
}

async function openAndDue(store: CircuitStore, clock: ManualClock): Promise<CircuitBreaker> {
  const opener = breaker(store, clock)
  await opener.execute(failing).catch(() => undefined)
  expect((await opener.getState()).state).toBe('OPEN')
  clock.advance(10_000)
  return opener
}

describe('the checker and live traffic together', () => {
  it.each([true, false])(
    'never hold more than halfOpenMaxProbes probes fleet-wide (liveProbes: %s, checker missed its runs)',
    async (liveProbes) => {
      const clock = new ManualClock()
      const store = new MemoryStore()
      const observer = await openAndDue(store, clock)
      // Past the missed-checks grace, so live calls may probe under either setting.
      if (!liveProbes) clock.advance(3 * 60_000)
      const options = { halfOpenMaxProbes: 2, halfOpenSuccessThreshold: 3, liveProbes }
      let inFlight = 0
      let most = 0
      const releases: Array<() => void> = []
      const probeCall = () =>
        new Promise<void>((resolve) => {
          inFlight++
          most = Math.max(most, inFlight)
          releases.push(() => {
            inFlight--
            resolve()
          })
        })
      const live = Array.from({ length: 8 }, () => breaker(store, clock, options))
      const checkers = Array.from({ length: 3 }, () => breaker(store, clock, { ...options, liveProbes: true }))
      const settle = async () => {
        for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      // Every environment and every checker contends at once, three times over (the half-open
      // entry admits one probe; later waves race for the second slot).
      const calls: Promise<unknown>[] = []
      for (let wave = 0; wave < 3; wave++) {
        calls.push(
          ...live.map((environment) => environment.execute(probeCall).catch(() => undefined)),
          ...checkers.map(async (checker) => {
            const probe = await checker.admitProbe()
            if (!probe.admitted) return
            await probeCall()
            await probe.permit.recordSuccess()
          }),
        )
        await settle()
      }
      expect(releases).toHaveLength(2)
      expect((await observer.getState()).probesInFlight).toBe(2)
      for (const release of releases.splice(0)) release()
      await Promise.all(calls)
      expect(most).toBe(2)
    },
  )

  it.each<StoreFault>(['lose-answer', 'late-answer', 'retry'])(
    "leaves no orphaned lease when the checker's lease write meets %s",
    async (fault) => {
      const clock = new ManualClock()
      const store = new InstrumentedStore(new MemoryStore())
      const observer = await openAndDue(store, clock)
      const checker = breaker(store, clock, { liveProbes: true })
      store.fault = fault
      store.faultOperations = new Set<StoreOperation>(['transition', 'acquireProbe'])
      const probe = await checker.admitProbe()
      store.fault = 'none'
      if (probe.admitted) await probe.permit.release()
      const snapshot = await observer.getState()
      expect(snapshot.probesInFlight).toBe(0)
      // The next check may probe at once.
      const next = await breaker(store, clock).admitProbe()
      expect(next.admitted).toBe(true)
      if (next.admitted) await next.permit.recordSuccess()
      expect((await observer.getState()).state).toBe('CLOSED')
    },
  )
})

describe('liveProbes: false holds', () => {
  const gated = { liveProbes: false, healthCheckIntervalMs: 60_000, missedChecks: 3 } as const

  it('while the store is out (fail-open): the last view known still withholds the probe', async () => {
    const clock = new ManualClock()
    const store = new InstrumentedStore(new MemoryStore())
    await openAndDue(store, clock)
    const live = breaker(store, clock, gated)
    let called = 0
    await live.execute(async () => ++called).catch(() => undefined)
    store.fault = 'error'
    for (let i = 0; i < 5; i++) await live.execute(async () => ++called).catch(() => undefined)
    store.fault = 'none'
    expect(called).toBe(0)
    expect((await live.getState()).state).toBe('OPEN')
  })

  it('after an operator override ends', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const opener = await openAndDue(store, clock)
    await opener.forceOpen({ reason: 'maintenance', durationMs: 30_000 })
    clock.advance(30_000)
    const live = breaker(store, clock, gated)
    let called = 0
    await live.execute(async () => ++called).catch(() => undefined)
    expect(called).toBe(0)
    expect((await opener.getState()).probesInFlight).toBe(0)
  })

  it('with a clock behind the fleet: never earlier, and the retry time stays where it was', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const opener = await openAndDue(store, clock)
    const { retryAt } = await opener.getState()
    const behind = new ManualClock(clock.now() - 5 * 60_000)
    const live = breaker(store, behind, gated)
    let called = 0
    for (let i = 0; i < 3; i++) await live.execute(async () => ++called).catch(() => undefined)
    expect(called).toBe(0)
    expect(await opener.getState()).toMatchObject({ state: 'OPEN', retryAt })
  })

  it('resumes live probes at the documented bound, not before', async () => {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const opener = await openAndDue(store, clock)
    const { retryAt } = await opener.getState()
    const live = breaker(store, clock, gated)
    let called = 0
    const resumeAt = (retryAt ?? 0) + 3 * 60_000
    clock.advance(resumeAt - 1 - clock.now())
    await live.execute(async () => ++called).catch(() => undefined)
    expect(called).toBe(0)
    expect((await opener.getState()).retryAt).toBe(retryAt)
    clock.advance(1)
    await live.execute(async () => ++called)
    expect(called).toBe(1)
  })
})
