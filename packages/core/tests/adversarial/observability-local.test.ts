import { Metrics } from '@aws-lambda-powertools/metrics'
import { BreakerMetric, CircuitBreaker, MemoryStore, RejectedBecause, type StateChange } from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it, jest } from '@jest/globals'
import { captureStdout, emfDocuments, emfProblems, metricTotals } from '../../../../test-support/emf.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { fails } from './support.js'

jest.setTimeout(60_000)

/*
 * While the store is down each environment protects itself with a breaker of its own. Its
 * openings are not fleet transitions: counting them as CircuitOpened would page once per
 * environment, the very thing the fleet's metrics exist to avoid. They are counted apart, as
 * LocallyOpened, so an operator still sees that environments stopped calling on their own.
 */
describe('a store outage during a downstream outage, over 5 environments', () => {
  it('emits one LocallyOpened per environment and no CircuitOpened', async () => {
    const clock = new ManualClock(1_700_000_000_000)
    const shared = new MemoryStore()
    const changes: StateChange[] = []
    const fleet = Array.from({ length: 5 }, () => {
      const store = new InstrumentedStore(shared)
      store.fault = 'error'
      return new CircuitBreaker({
        circuitId: 'payment-api',
        store,
        now: clock.now,
        logger: silentLogger,
        failureThreshold: 3,
        resetTimeoutMs: 1_000,
        storeOutage: 'fail-open',
        metrics: new Metrics({ namespace: 'checkout', serviceName: 'payments' }),
        observers: [{ onStateChange: (change) => void changes.push(change) }],
      })
    })
    const lines = await captureStdout(async () => {
      for (const breaker of fleet) {
        for (let call = 0; call < 5; call++) await breaker.execute(fails).catch(() => undefined)
      }
    })
    const documents = emfDocuments(lines)
    for (const document of documents) expect(emfProblems(document)).toEqual([])
    const totals = metricTotals(documents)
    expect(totals.get(BreakerMetric.LOCALLY_OPENED)).toBe(5)
    expect(totals.get(BreakerMetric.CIRCUIT_OPENED)).toBeUndefined()
    expect(changes).toEqual([])
    const reasons = documents
      .filter((document) => BreakerMetric.CALLS_REJECTED in document)
      .map((document) => document.rejectionReason)
    expect(reasons.length).toBeGreaterThan(0)
    expect(new Set(reasons)).toEqual(new Set([RejectedBecause.LOCALLY_OPEN]))
  })
})
