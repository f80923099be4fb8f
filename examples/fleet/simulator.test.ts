import { describe, expect, it } from '@jest/globals'
import { compareFleetBreakers } from './compare.js'
import { startDownstream } from './downstream.js'
import type { FleetResult } from './measure.js'
import { arrivalSchedule } from './schedule.js'
import { type FleetRunOptions, runFleet } from './simulator.js'
import { type StoreKind, startSharedStore } from './store-backend.js'
import { perEnvironmentStrategy, sharedStoreStrategy } from './strategies.js'

/*
 * Short runs (about two seconds each) with real timers, a real HTTP downstream and, for DynamoDB,
 * the embedded dynalite. Assertions are on counts and order, never on how fast anything was.
 */

const ENVIRONMENTS = 6
const THRESHOLD = 3

const quick: FleetRunOptions = {
  environments: ENVIRONMENTS,
  failureThreshold: THRESHOLD,
  seed: 11,
  invocationsPerSecond: 40,
  phases: { healthyMs: 300, outageMs: 900, recoveredMs: 1_000 },
  resetTimeoutMs: 400,
  // Without backoff growth the retry after a failed probe comes within 400 ms of recovery.
  maxResetTimeoutMs: 400,
  callTimeoutMs: 500,
  downstreamLatencyMs: 2,
}

async function sharedRun(store: StoreKind, options: FleetRunOptions = quick): Promise<FleetResult> {
  const backend = await startSharedStore(store)
  try {
    return await runFleet(sharedStoreStrategy(backend), options)
  } finally {
    await backend.close()
  }
}

describe.each<StoreKind>(['memory', 'dynamodb'])('a fleet sharing one circuit through the %s store', (store) => {
  let result: FleetResult

  it('runs every scheduled invocation, each one called or rejected', async () => {
    result = await sharedRun(store)
    const { total, called, rejected, errors } = result.invocations
    expect(errors).toBe(0)
    expect(result.warnings).toEqual([])
    expect(called + rejected).toBe(total)
    expect(total).toBe(arrivalSchedule({ ...scheduleOf(quick) }).flat().length)
    expect(result.downstream.total).toBe(called)
  }, 20_000)

  it('lets at most threshold + environments calls reach the failing downstream, probes apart', () => {
    const { downstreamCalls, probes } = result.outage
    expect(downstreamCalls).toBeGreaterThanOrEqual(THRESHOLD)
    expect(downstreamCalls - probes).toBeLessThanOrEqual(THRESHOLD + ENVIRONMENTS)
  })

  it('opens once for the whole fleet: one environment makes the transition', () => {
    expect(result.transitions.local['CLOSED->OPEN']).toBe(1)
    expect(result.outage.environmentsTripped).toBe(1)
    expect(result.outage.firstOpenMs).toBeDefined()
    // The other environments learn of it instead of tripping themselves.
    expect(result.transitions.observed['CLOSED->OPEN'] ?? 0).toBeLessThanOrEqual(ENVIRONMENTS - 1)
  })

  it('sends one probe at a time, and few of them, after recovery', () => {
    expect(result.maxConcurrentProbes).toBeLessThanOrEqual(1)
    expect(result.recovery.probes).toBeGreaterThanOrEqual(1)
    expect(result.recovery.probes).toBeLessThanOrEqual(2)
  })

  it('closes after recovery, once for the fleet', () => {
    expect(result.recovery.firstClosedMs).toBeDefined()
    expect(result.transitions.local['HALF_OPEN->CLOSED']).toBe(1)
    expect(result.recovery.environmentsClosed).toBe(1)
  })

  it('counts the store round trips of every environment', () => {
    expect(result.store).toBeDefined()
    expect(result.store?.writes).toBeGreaterThanOrEqual(THRESHOLD)
    expect(result.store?.readsPerInvocation).toBeLessThan(1)
  })
})

describe('200 environments on the embedded DynamoDB with the default store deadline', () => {
  it('never let more calls reach the failing downstream than breakers of their own would', async () => {
    const environments = 200
    const threshold = 5
    const result = await sharedRun('dynamodb', {
      ...quick,
      environments,
      failureThreshold: threshold,
      invocationsPerSecond: 5,
      phases: { healthyMs: 500, outageMs: 2_000, recoveredMs: 500 },
      resetTimeoutMs: 10_000,
      maxResetTimeoutMs: 10_000,
    })
    const { downstreamCalls, probes } = result.outage
    // threshold + environments holds while dynalite answers within the deadline, as it does on a
    // quiet machine; when a loaded machine makes it miss the deadline, each environment falls back
    // on its own count, and the fleet is still never less protected than by breakers of their own.
    expect(downstreamCalls - probes).toBeLessThanOrEqual(threshold * environments)
    // On a loaded machine the opening write itself may miss the deadline (the environments then
    // protect themselves, as above); never do two environments open the circuit.
    expect(result.transitions.local['CLOSED->OPEN'] ?? 0).toBeLessThanOrEqual(1)
  }, 120_000)
})

describe('per-environment breakers compared with one shared breaker', () => {
  it('let more calls through to the failing downstream: each environment counts its own failures', async () => {
    const environments = 8
    const { shared, perEnvironment } = await compareFleetBreakers({ ...quick, environments, store: 'memory' })
    expect(perEnvironment.invocations.total).toBe(shared.invocations.total)
    expect(perEnvironment.outage.environmentsTripped).toBe(environments)
    expect(perEnvironment.transitions.local['CLOSED->OPEN']).toBe(environments)
    expect(perEnvironment.outage.downstreamCalls).toBeGreaterThanOrEqual(THRESHOLD * environments)
    expect(perEnvironment.outage.downstreamCalls).toBeGreaterThan(shared.outage.downstreamCalls)
    expect(perEnvironment.recovery.probes).toBeGreaterThan(shared.recovery.probes)
    expect(perEnvironment.store).toBeUndefined()
  }, 20_000)
})

describe('the arrival schedule', () => {
  const options = { environments: 5, seed: 42, durationMs: 2_000, invocationsPerSecond: 10 }

  it('is the same for the same seed', () => {
    expect(arrivalSchedule(options)).toEqual(arrivalSchedule(options))
  })

  it('differs for another seed', () => {
    expect(arrivalSchedule({ ...options, seed: 43 })).not.toEqual(arrivalSchedule(options))
  })

  it("gives each environment the same arrivals whatever the fleet's size", () => {
    expect(arrivalSchedule({ ...options, environments: 2 })).toEqual(arrivalSchedule(options).slice(0, 2))
  })

  it('keeps every arrival in order and within the run', () => {
    for (const arrivals of arrivalSchedule(options)) {
      expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b))
      for (const at of arrivals) {
        expect(at).toBeGreaterThanOrEqual(0)
        expect(at).toBeLessThan(options.durationMs)
      }
    }
  })

  it('makes two runs with one seed invoke the fleet the same number of times', async () => {
    const short: FleetRunOptions = {
      ...quick,
      environments: 3,
      phases: { healthyMs: 100, outageMs: 200, recoveredMs: 100 },
    }
    const first = await runFleet(perEnvironmentStrategy(), short)
    const second = await runFleet(perEnvironmentStrategy(), short)
    expect(second.invocations.total).toBe(first.invocations.total)
  }, 10_000)
})

describe('the downstream', () => {
  it('answers 200, then 503 while failing, and logs every request', async () => {
    let now = 0
    const downstream = await startDownstream({ now: () => now })
    try {
      expect((await fetch(downstream.url)).status).toBe(200)
      downstream.fail()
      now = 5
      const failed = await fetch(downstream.url)
      expect(failed.status).toBe(503)
      await failed.arrayBuffer()
      downstream.recover()
      now = 9
      expect((await fetch(downstream.url)).status).toBe(200)
      expect(downstream.requests).toEqual([
        { atMs: 0, duringOutage: false, status: 200 },
        { atMs: 5, duringOutage: true, status: 503 },
        { atMs: 9, duringOutage: false, status: 200 },
      ])
    } finally {
      await downstream.close()
    }
  })
})

function scheduleOf(options: FleetRunOptions) {
  const phases = { healthyMs: 0, outageMs: 0, recoveredMs: 0, ...options.phases }
  return {
    environments: options.environments ?? 0,
    seed: options.seed ?? 0,
    durationMs: phases.healthyMs + phases.outageMs + phases.recoveredMs,
    invocationsPerSecond: options.invocationsPerSecond ?? 0,
  }
}
