import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, type CircuitBreakerOptions, CircuitState, type StateChange } from '@fleet-breaker/core'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { silentLogger } from '../../../../test-support/logger.js'
import { type EnvironmentStores, environmentStores } from '../support/environment-stores.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * Fleet scenarios on the real shared stores: every simulated execution environment has its own
 * breaker and its own client (its own connections), and they all run at once.
 */

const backends = environmentStores('fleet-scenarios', beforeAll, afterAll)

function fleet(backend: EnvironmentStores, size: number, options: Omit<CircuitBreakerOptions, 'store' | 'circuitId'>) {
  const circuitId = `fleet-${randomUUID()}`
  const changes: StateChange[] = []
  const breakers = Array.from({ length: size }, () => {
    // dynalite applies writes to one item one at a time; under a loaded test run, 50 concurrent
    // conditional writes can take longer than the default store deadline, and the breaker would
    // then (rightly) fail open. The deadline is raised so the scenarios test the store's semantics.
    const breaker = new CircuitBreaker({
      circuitId,
      store: backend.environmentStore(),
      logger: silentLogger,
      storeTimeoutMs: 10_000,
      ...options,
    })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return breaker
  })
  return { breakers, changes, first: breakers[0] as CircuitBreaker }
}

const unavailable = () => Object.assign(new Error('service unavailable'), { statusCode: 503 })

describe.each(backends)('a fleet sharing $name', (backend) => {
  it('counts 20 environments each recording one failure at once exactly', async () => {
    const { breakers, first } = fleet(backend, 20, { failureThreshold: 1_000 })
    await Promise.all(
      breakers.map((breaker) => breaker.execute(async () => Promise.reject(unavailable())).catch(() => undefined)),
    )
    expect((await first.getState()).failures).toBe(20)
  }, 60_000)

  it('opens for 50 environments failing together with at most threshold + 50 downstream calls, and one local transition', async () => {
    const threshold = 5
    const { breakers, changes, first } = fleet(backend, 50, { failureThreshold: threshold, resetTimeoutMs: 60_000 })
    let downstreamCalls = 0
    const dead = async (): Promise<never> => {
      downstreamCalls++
      throw unavailable()
    }
    // Each environment is invoked again and again, as traffic keeps arriving.
    await Promise.all(
      breakers.map(async (breaker) => {
        for (let invocation = 0; invocation < 6; invocation++) await breaker.execute(dead).catch(() => undefined)
      }),
    )
    expect((await first.getState()).state).toBe(CircuitState.OPEN)
    expect(downstreamCalls).toBeLessThanOrEqual(threshold + 50)
    const opened = changes.filter((change) => change.origin === 'local' && change.to === CircuitState.OPEN)
    expect(opened).toHaveLength(1)
  }, 60_000)

  it('sends exactly one probe when 8 environments race at the retry time', async () => {
    const { breakers, first } = fleet(backend, 8, { failureThreshold: 1, resetTimeoutMs: 300 })
    await first.execute(async () => Promise.reject(unavailable())).catch(() => undefined)
    // Every environment caches the OPEN state, then all reach the retry time together.
    await Promise.all(breakers.map((breaker) => breaker.execute(async () => 'too early').catch(() => undefined)))
    await sleep(350)
    // Calls admitted as ordinary ones after the probe closed the circuit are not probes: count the
    // permits that say they are.
    let probes = 0
    await Promise.all(
      breakers.map(async (breaker) => {
        const admission = await breaker.admit()
        if (!admission.admitted) return
        if (admission.permit.isProbe) probes++
        await sleep(30)
        await admission.permit.recordResult('recovered')
      }),
    )
    expect(probes).toBe(1)
    expect((await first.getState()).state).toBe(CircuitState.CLOSED)
  }, 30_000)

  it('keeps counting into a new record when the record is lost under a running fleet', async () => {
    const { breakers, first } = fleet(backend, 10, { failureThreshold: 1_000, cacheTtlMs: 0 })
    const failEach = () =>
      Promise.all(
        breakers.map(async (breaker) => {
          for (let failure = 0; failure < 2; failure++) {
            await breaker.execute(async () => Promise.reject(unavailable())).catch(() => undefined)
          }
        }),
      )
    await failEach()
    const before = await backend.environmentStore().get(first.circuitId)
    expect(before).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 20 })
    // The record disappears (an expired item, a restarted server, an operator's clear).
    await backend.environmentStore().clearMany([first.circuitId])
    await failEach()
    const after = await backend.environmentStore().get(first.circuitId)
    expect(after).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 20 })
    expect(after?.incarnation).not.toBe('')
    expect(after?.incarnation).not.toBe(before?.incarnation)
  }, 60_000)

  it('under 50 % random failures never takes an open circuit back to CLOSED without a probe', async () => {
    const { breakers, changes } = fleet(backend, 10, { failureThreshold: 3, resetTimeoutMs: 100, cacheTtlMs: 50 })
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const probes: boolean[] = []
    // A fixed number of calls per environment (not a time budget), so a slow machine does the same work.
    await Promise.all(
      breakers.map(async (breaker) => {
        for (let call = 0; call < 25; call++) {
          const fails = random() < 0.5
          const admission = await breaker.admit()
          if (admission.admitted) {
            if (admission.permit.isProbe) probes.push(!fails)
            await sleep(5)
            if (fails) await admission.permit.recordError(unavailable())
            else await admission.permit.recordResult('ok')
          } else {
            await sleep(10)
          }
        }
      }),
    )
    const local = changes.filter((change) => change.origin === 'local')
    expect(local.some((change) => change.to === CircuitState.OPEN)).toBe(true)
    for (const change of local) {
      if (change.from === CircuitState.OPEN) expect(change.to).toBe(CircuitState.HALF_OPEN)
      if (change.to === CircuitState.CLOSED) expect(change.reason).toBe('probe-succeeded')
    }
    const closes = local.filter((change) => change.to === CircuitState.CLOSED).length
    expect(probes.filter((succeeded) => succeeded).length).toBeGreaterThanOrEqual(closes)
  }, 120_000)
})
