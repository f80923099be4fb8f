import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { BreakerMetric, CircuitBreaker, CircuitState } from '@fleet-breaker/core'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { captureStdout, emfDocuments, emfProblems, metricTotals } from '../../../../test-support/emf.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { environmentStores } from '../../../storage/tests/support/environment-stores.js'

// Every call here goes to an in-process server; on a loaded machine a few requests take seconds.
jest.setTimeout(60_000)

/*
 * The point of `origin: 'local'`: however many environments see a transition, exactly one made it,
 * so a fleet's metrics sum to one per transition. Each environment has its own breaker, its own
 * store client and its own Powertools Metrics instance, writing EMF to the captured stdout.
 */

const backends = environmentStores('observer-fleet', beforeAll, afterAll)
const ENVIRONMENTS = 20
const RESET_TIMEOUT_MS = 400

const unavailable = () => Object.assign(new Error('service unavailable'), { statusCode: 503 })

describe.each(backends)('metrics of a fleet of 20 environments sharing $name', (backend) => {
  it('sum to exactly one CircuitOpened, one CircuitHalfOpened and one CircuitClosed for an outage', async () => {
    const circuitId = `observed-${randomUUID()}`
    const fleet = Array.from(
      { length: ENVIRONMENTS },
      () =>
        new CircuitBreaker({
          circuitId,
          store: backend.environmentStore(),
          metrics: new Metrics({ namespace: 'fleet-test', serviceName: 'checkout' }),
          logger: silentLogger,
          failureThreshold: 5,
          resetTimeoutMs: RESET_TIMEOUT_MS,
          cacheTtlMs: 100,
          // Generous: the test is about counting, not about a loaded machine's store latency.
          storeTimeoutMs: 10_000,
        }),
    )
    const [first] = fleet
    if (first === undefined) throw new Error('no fleet')
    // The downstream fails until the circuit opens and has recovered by the first probe, so the
    // outage is exactly one opening, one half-open entry and one close, however slow the store.
    let down = true
    for (const breaker of fleet) {
      breaker.onStateChange((change) => {
        if (change.to === CircuitState.OPEN) down = false
      })
    }
    const downstream = async () => {
      if (down) throw unavailable()
      return 'ok'
    }
    const lines = await captureStdout(async () => {
      // The outage: every environment keeps being invoked.
      await Promise.all(
        fleet.map(async (breaker) => {
          for (let invocation = 0; invocation < 4; invocation++)
            await breaker.execute(downstream).catch(() => undefined)
        }),
      )
      // The circuit opened (on a slow store, it may already have closed again).
      expect(down).toBe(false)
      // The downstream recovers; after the retry time every environment is invoked again.
      await sleep(RESET_TIMEOUT_MS + 50)
      for (let round = 0; round < 10 && (await first.getState()).state !== CircuitState.CLOSED; round++) {
        await Promise.all(fleet.map((breaker) => breaker.execute(downstream).catch(() => undefined)))
        await sleep(50)
      }
      expect((await first.getState()).state).toBe(CircuitState.CLOSED)
      // And then the whole fleet goes on calling through the closed circuit.
      await Promise.all(fleet.map((breaker) => breaker.execute(async () => 'ok').catch(() => undefined)))
    })
    const documents = emfDocuments(lines).filter((document) => document.circuitId === circuitId)
    for (const document of documents) expect(emfProblems(document)).toEqual([])
    const totals = metricTotals(documents)
    expect(totals.get(BreakerMetric.CIRCUIT_OPENED)).toBe(1)
    expect(totals.get(BreakerMetric.CIRCUIT_HALF_OPENED)).toBe(1)
    expect(totals.get(BreakerMetric.CIRCUIT_CLOSED)).toBe(1)
    expect(totals.get(BreakerMetric.PROBE_SUCCEEDED)).toBeGreaterThanOrEqual(1)
    expect(totals.get(BreakerMetric.FAILURES_COUNTED)).toBeGreaterThanOrEqual(5)
    expect(totals.get(BreakerMetric.CALLS_REJECTED)).toBeGreaterThan(0)
  })
})
