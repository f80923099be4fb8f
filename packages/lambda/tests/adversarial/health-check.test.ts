import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CircuitBreaker, type CircuitStore, MemoryStore } from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { type HealthCheckTarget, healthCheckHandler } from '@fleet-breaker/lambda'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const invocation = { getRemainingTimeInMillis: () => 60_000 }
const CIRCUIT = 'payments'
const fleetOptions = {
  failureThreshold: 5,
  resetTimeoutMs: 10_000,
  liveProbes: false,
  healthCheckIntervalMs: 60_000,
  cacheTtlMs: 0,
  logger: silent,
} as const

function fleetBreaker(store: CircuitStore, clock: ManualClock, extra: Record<string, unknown> = {}): CircuitBreaker {
  return new CircuitBreaker({ circuitId: CIRCUIT, store, ...fleetOptions, now: clock.now, ...extra })
}

function checker(store: CircuitStore, clock: ManualClock, target: Omit<HealthCheckTarget, 'circuitId'>, extra = {}) {
  return healthCheckHandler({
    store,
    targets: [{ circuitId: CIRCUIT, ...target }],
    breakerOptions: fleetOptions,
    logger: silent,
    now: clock.now,
    ...extra,
  })
}

const failing = () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))

async function failLive(breaker: CircuitBreaker, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await breaker.execute(failing).catch(() => undefined)
}

async function openDue(store: CircuitStore, clock: ManualClock): Promise<CircuitBreaker> {
  const live = fleetBreaker(store, clock)
  await failLive(live, fleetOptions.failureThreshold)
  expect((await live.getState()).state).toBe('OPEN')
  clock.advance(fleetOptions.resetTimeoutMs)
  return live
}

describe('openAfter', () => {
  it('never opens a closed circuit on a single failed check, whatever live calls counted', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = fleetBreaker(store, clock)
    // Live traffic had a few failures, below the fleet's threshold of 5.
    await failLive(live, 2)
    const run = checker(store, clock, { check: () => false, openAfter: 3 })
    const summary = await run({}, invocation)
    expect(summary.results[0]?.outcome).toBe('failing')
    expect((await live.getState()).state).toBe('CLOSED')
  })

  it('opens after openAfter failed checks in a row; a passing check in between starts over', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = fleetBreaker(store, clock)
    let healthy = false
    const run = checker(store, clock, { check: () => healthy, openAfter: 3 })
    await run({}, invocation)
    clock.advance(60_000)
    await run({}, invocation)
    healthy = true
    clock.advance(60_000)
    await run({}, invocation)
    healthy = false
    clock.advance(60_000)
    await run({}, invocation)
    clock.advance(60_000)
    expect((await run({}, invocation)).results[0]?.outcome).toBe('failing')
    expect((await live.getState()).state).toBe('CLOSED')
    clock.advance(60_000)
    expect((await run({}, invocation)).results[0]?.outcome).toBe('opened')
    expect((await live.getState()).state).toBe('OPEN')
  })

  it('forgets a run of failed checks interrupted by more than two intervals', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const run = checker(store, clock, { check: () => false, openAfter: 2 })
    await run({}, invocation)
    clock.advance(3 * 60_000)
    expect((await run({}, invocation)).results[0]?.outcome).toBe('failing')
    clock.advance(60_000)
    expect((await run({}, invocation)).results[0]?.outcome).toBe('opened')
  })

  it('is refused with a check that could never pass or would time out at once', () => {
    const make = (check: HealthCheckTarget['check']) => () =>
      healthCheckHandler({ store: new MemoryStore(), targets: [{ circuitId: CIRCUIT, check }] })
    expect(make({ url: 'http://127.0.0.1/health', expectedStatus: [] })).toThrow(/targets\[0\]\.check\.expectedStatus/)
    // Beyond 2^31 - 1 ms, Node fires a timer at once: every check would fail.
    expect(make({ url: 'http://127.0.0.1/health', timeoutMs: 3_000_000_000 })).toThrow(/targets\[0\]\.check\.timeoutMs/)
    expect(make({ url: 'http://127.0.0.1/health', timeoutMs: 900_000 })).not.toThrow()
  })

  it('is refused for a circuit in the failure-rate mode', () => {
    expect(() =>
      healthCheckHandler({
        store: new MemoryStore(),
        targets: [{ circuitId: CIRCUIT, check: () => true, openAfter: 3 }],
        breakerOptions: { failureRateThreshold: 0.5 },
      }),
    ).toThrow(/targets\[0\]\.openAfter/)
  })

  it('counts a failed check once when the store applies the write twice', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new InstrumentedStore(new MemoryStore())
    store.fault = 'retry'
    const run = checker(store, clock, { check: () => false, openAfter: 2 })
    await run({}, invocation)
    store.fault = 'none'
    expect((await fleetBreaker(store, clock).getState()).state).toBe('CLOSED')
  })
})

describe('the checker as the probe', () => {
  it('a check ignoring its signal past the deadline is abandoned, and its lease given back', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = await openDue(store, clock)
    const run = checker(store, clock, { check: () => new Promise(() => {}) }, { deadlineMarginMs: 100 })
    const summary = await run({}, { getRemainingTimeInMillis: () => 400 })
    expect(summary.results[0]?.outcome).toBe('cut-short')
    const snapshot = await live.getState()
    expect(snapshot.probesInFlight).toBe(0)
    // The next run may probe at once: nothing is left holding the slot.
    const next = await checker(store, clock, { check: () => true })({}, invocation)
    expect(next.results[0]?.outcome).toBe('closed')
  })

  it('a check that throws synchronously is a failed probe, and the circuit reopens', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = await openDue(store, clock)
    const run = checker(store, clock, {
      check: () => {
        throw new Error('boom')
      },
    })
    const summary = await run({}, invocation)
    expect(summary.results[0]).toMatchObject({ outcome: 'reopened', state: 'OPEN' })
    expect((await live.getState()).probesInFlight).toBe(0)
  })

  it('two overlapping checker invocations send one probe', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = await openDue(store, clock)
    let checks = 0
    let finish: (healthy: boolean) => void = () => {}
    const slow = () => {
      checks++
      return new Promise<boolean>((resolve) => {
        finish = resolve
      })
    }
    const first = checker(store, clock, { check: slow })({}, invocation)
    // The schedule delivered twice, or the next run while the first is still checking.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const second = await checker(store, clock, { check: slow })({}, invocation)
    expect(second.results[0]).toMatchObject({ outcome: 'skipped', reason: 'probes-busy' })
    finish(true)
    expect((await first).results[0]?.outcome).toBe('closed')
    expect(checks).toBe(1)
    expect((await live.getState()).state).toBe('CLOSED')
  })

  it("holds its lease for the check's whole time, even when the fleet's probeLeaseMs is shorter", async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = await openDue(store, clock)
    const running: Array<(healthy: boolean) => void> = []
    const slow = () => new Promise<boolean>((resolve) => running.push(resolve))
    const short = { breakerOptions: { ...fleetOptions, probeLeaseMs: 500 } }
    const first = checker(store, clock, { check: slow }, short)({}, invocation)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The check is still running (within its 5 s timeout) when the fleet's lease would have lapsed.
    clock.advance(1_000)
    const second = checker(store, clock, { check: slow }, short)({}, invocation)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const probes = running.length
    for (const finish of running) finish(true)
    expect(probes).toBe(1)
    expect((await second).results[0]).toMatchObject({ outcome: 'skipped', reason: 'probes-busy' })
    expect((await first).results[0]?.outcome).toBe('closed')
    expect((await live.getState()).state).toBe('CLOSED')
  }, 20_000)

  it("never moves an open circuit's retry time", async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = fleetBreaker(store, clock)
    await failLive(live, 5)
    const { retryAt } = await live.getState()
    const summary = await checker(store, clock, { check: () => true })({}, invocation)
    expect(summary.results[0]).toMatchObject({ outcome: 'skipped', reason: 'not-due' })
    expect((await live.getState()).retryAt).toBe(retryAt)
  })

  it('checks run at most `concurrency` at once', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    let running = 0
    let most = 0
    const check = async () => {
      running++
      most = Math.max(most, running)
      await new Promise((resolve) => setTimeout(resolve, 20))
      running--
      return false
    }
    const targets = Array.from({ length: 9 }, (_, i) => ({ circuitId: `c${i}`, check, openAfter: 5 }))
    const run = healthCheckHandler({ store, targets, concurrency: 2, logger: silent, now: clock.now })
    const summary = await run({}, invocation)
    expect(summary.results).toHaveLength(9)
    expect(most).toBe(2)
  })
})

describe('the end of the invocation', () => {
  it('targets left when the time is up are skipped without a store call', async () => {
    const clock = new ManualClock(1_000_000)
    const store = new InstrumentedStore(new MemoryStore())
    const targets = Array.from({ length: 12 }, (_, i) => ({ circuitId: `c${i}`, check: () => true }))
    const run = healthCheckHandler({ store, targets, logger: silent, now: clock.now, deadlineMarginMs: 1_000 })
    // A slow store: every call would wait out its timeout, each past the invocation's end.
    store.fault = 'hang'
    const summary = await run({}, { getRemainingTimeInMillis: () => 1_020 })
    expect(summary.outcomes).toEqual({ skipped: 12 })
    expect(summary.results.every((result) => result.reason === 'out-of-time')).toBe(true)
    expect(store.roundTrips).toBe(0)
  })
})

describe('URL checks', () => {
  let server: Server
  let base: string
  beforeAll(async () => {
    server = createServer((request, response) => {
      switch (request.url) {
        case '/slow-body':
          // Headers at once, a body that never ends.
          response.writeHead(200, { 'content-type': 'text/plain' })
          response.write('still going')
          return
        case '/huge':
          response.writeHead(200)
          response.end(Buffer.alloc(8 * 1024 * 1024, 97))
          return
        case '/redirect':
          response.writeHead(302, { location: '/ok' })
          response.end()
          return
        case '/never':
          return
        default:
          response.writeHead(200)
          response.end('ok')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  async function outcomeOf(url: string, extra: Record<string, unknown> = {}) {
    const clock = new ManualClock(1_000_000)
    const store = new MemoryStore()
    const live = await openDue(store, clock)
    const summary = await checker(store, clock, { check: { url, timeoutMs: 2_000, ...extra } })({}, invocation)
    return { result: summary.results[0], probes: (await live.getState()).probesInFlight }
  }

  it('a body that never ends does not hold the check: the status decides', async () => {
    expect(await outcomeOf(`${base}/slow-body`)).toMatchObject({ result: { outcome: 'closed' }, probes: 0 })
  })

  it('a huge body is not read', async () => {
    expect(await outcomeOf(`${base}/huge`)).toMatchObject({ result: { outcome: 'closed' }, probes: 0 })
  })

  it('a redirect is its status, not the page it points at', async () => {
    expect(await outcomeOf(`${base}/redirect`)).toMatchObject({ result: { outcome: 'reopened' } })
    expect(await outcomeOf(`${base}/redirect`, { expectedStatus: 302 })).toMatchObject({
      result: { outcome: 'closed' },
    })
  })

  it('no answer within timeoutMs is a failed check', async () => {
    expect(await outcomeOf(`${base}/never`, { timeoutMs: 300 })).toMatchObject({
      result: { outcome: 'reopened', error: expect.stringContaining('timed out') },
      probes: 0,
    })
  })

  it('a name that does not resolve is a failed check, not a crash', async () => {
    expect(await outcomeOf('http://fleet-breaker-no-such-host.invalid/health')).toMatchObject({
      result: { outcome: 'reopened' },
      probes: 0,
    })
  })
})
