import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, type CircuitBreakerOptions, CircuitState, type StateChange } from '@fleet-breaker/core'
import { InstrumentedStore } from '@fleet-breaker/core/testing'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { silentLogger } from '../../../../test-support/logger.js'
import { environmentStores } from '../support/environment-stores.js'

/*
 * Lambda Managed Instances: one execution environment runs dozens of invocations at once. A few
 * environments, each with its own client and breaker, each running many concurrent invocations,
 * on the real shared stores.
 */

const ENVIRONMENTS = 4
const CONCURRENT_INVOCATIONS = 30
const backends = environmentStores('managed-instances', beforeAll, afterAll)

const unavailable = () => Object.assign(new Error('service unavailable'), { statusCode: 503 })

function environments(backend: (typeof backends)[number], resetTimeoutMs: number) {
  const circuitId = `managed-${randomUUID()}`
  const changes: StateChange[] = []
  const members = Array.from({ length: ENVIRONMENTS }, () => {
    const store = new InstrumentedStore(backend.environmentStore())
    // A generous store deadline: dynalite applies writes to one item one at a time, and a loaded
    // machine must not turn these scenarios into store-outage scenarios.
    const breaker = new CircuitBreaker({
      circuitId,
      store,
      logger: silentLogger,
      failureThreshold: 5,
      resetTimeoutMs,
      storeTimeoutMs: 10_000,
    })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return { store, breaker }
  })
  const local = () => changes.filter((change) => change.origin === 'local')
  /** Every environment runs `CONCURRENT_INVOCATIONS` invocations at once, all calling `downstream`. */
  const wave = (downstream: () => Promise<string>) =>
    Promise.allSettled(
      members.flatMap(({ breaker }) =>
        Array.from({ length: CONCURRENT_INVOCATIONS }, () => breaker.execute(downstream)),
      ),
    )
  return { members, local, wave }
}

describe.each(backends)('Managed-Instances load on $name', (backend) => {
  it('admits every concurrent invocation of a healthy circuit with no store write', async () => {
    const { members, wave } = environments(backend, 60_000)
    const outcomes = await wave(async () => 'ok')
    expect(outcomes.every((outcome) => outcome.status === 'fulfilled')).toBe(true)
    expect(members.reduce((writes, { store }) => writes + store.writes, 0)).toBe(0)
  }, 60_000)

  it('opens once for the fleet: after the first wave of concurrent failures, nothing reaches the downstream', async () => {
    const { local, wave } = environments(backend, 60_000)
    let downstreamCalls = 0
    const failing = async (): Promise<string> => {
      downstreamCalls++
      throw unavailable()
    }
    await wave(failing) // invocations admitted from a closed view, before the circuit opened
    const firstWave = downstreamCalls
    expect(firstWave).toBeLessThanOrEqual(ENVIRONMENTS * CONCURRENT_INVOCATIONS)
    await wave(failing)
    await wave(failing)
    expect(downstreamCalls).toBe(firstWave)
    expect(local().map((change) => `${change.from}->${change.to}`)).toEqual(['CLOSED->OPEN'])
  }, 60_000)

  it('sends exactly one probe when dozens of invocations per environment find the retry time come', async () => {
    const { members, local } = environments(backend, 1_000)
    const [opener] = members as [(typeof members)[0]]
    for (let failure = 0; failure < 5; failure++) {
      await opener.breaker.execute(async () => Promise.reject(unavailable())).catch(() => undefined)
    }
    await sleep(1_100) // past the retry time
    let probes = 0
    await Promise.all(
      members.flatMap(({ breaker }) =>
        Array.from({ length: CONCURRENT_INVOCATIONS }, async () => {
          const admission = await breaker.admit()
          if (!admission.admitted) return
          if (admission.permit.isProbe) probes++
          await sleep(5)
          await admission.permit.recordResult('recovered')
        }),
      ),
    )
    expect(probes).toBe(1)
    const transitions = local().map((change) => `${change.from}->${change.to}`)
    expect(transitions).toEqual(['CLOSED->OPEN', 'OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED'])
    expect((await (members[0] as (typeof members)[0]).breaker.getState()).state).toBe(CircuitState.CLOSED)
  }, 60_000)
})

describe.each(backends)('trip policies across a fleet on $name', (backend) => {
  function fleetOf(size: number, options: Omit<CircuitBreakerOptions, 'store' | 'circuitId'>) {
    const circuitId = `trip-${randomUUID()}`
    const changes: StateChange[] = []
    const breakers = Array.from({ length: size }, (_, index) => {
      const breaker = new CircuitBreaker({
        circuitId,
        store: backend.environmentStore(),
        logger: silentLogger,
        storeTimeoutMs: 10_000,
        environmentId: `environment-${index}`,
        ...options,
      })
      breaker.onStateChange((change) => {
        changes.push(change)
      })
      return breaker
    })
    const opened = () => changes.filter((change) => change.origin === 'local' && change.to === CircuitState.OPEN)
    return { breakers, opened }
  }

  const call = (breaker: CircuitBreaker, fails: boolean) =>
    breaker.execute(async () => {
      if (fails) throw unavailable()
      return 'ok'
    })

  it('opens once on the fleet’s failure rate, with every environment flushing at once', async () => {
    const { breakers, opened } = fleetOf(8, { failureRateThreshold: 0.5, minimumCalls: 40, rateFlushIntervalMs: 0 })
    for (let round = 0; round < 10; round++) {
      await Promise.allSettled(breakers.map((breaker, index) => call(breaker, (round + index) % 3 !== 0)))
    }
    expect(opened()).toHaveLength(1)
    expect((await (breakers[0] as CircuitBreaker).getState()).state).toBe(CircuitState.OPEN)
  }, 60_000)

  it('does not open on a low failure rate, however many environments report at once', async () => {
    const { breakers, opened } = fleetOf(8, { failureRateThreshold: 0.5, minimumCalls: 40, rateFlushIntervalMs: 0 })
    for (let round = 0; round < 10; round++) {
      await Promise.allSettled(breakers.map((breaker, index) => call(breaker, (round * 8 + index) % 10 === 0)))
    }
    expect(opened()).toHaveLength(0)
    const { record } = await (breakers[0] as CircuitBreaker).getState()
    expect(record.state === CircuitState.CLOSED && record.calls).toBe(80)
  }, 60_000)

  it('needs failures from minEnvironments distinct environments to open', async () => {
    const { breakers, opened } = fleetOf(6, { failureThreshold: 3, minEnvironments: 3 })
    const [lonely] = breakers as [CircuitBreaker]
    for (let failure = 0; failure < 10; failure++) await call(lonely, true).catch(() => undefined)
    expect(opened()).toHaveLength(0)
    await Promise.allSettled(breakers.slice(1, 3).map((breaker) => call(breaker, true)))
    expect(opened()).toHaveLength(1)
  }, 60_000)
})
