import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { BreakerMetric, CircuitBreaker, type Logger, MemoryStore, RejectedBecause } from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { captureStdout, emfDocuments, emfProblems, metricTotals } from '../../../../test-support/emf.js'
import { fails, rejectionOf, succeeds } from '../unit/support.js'

function breakerWith(metrics: Metrics, extra: { shadow?: boolean } = {}) {
  const clock = new ManualClock(Date.now())
  const store = new InstrumentedStore(new MemoryStore())
  const breaker = new CircuitBreaker({
    circuitId: 'payment-api',
    store,
    metrics,
    now: clock.now,
    failureThreshold: 2,
    resetTimeoutMs: 1_000,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    ...extra,
  })
  return { clock, store, breaker }
}

describe('metrics through a Powertools Metrics instance', () => {
  it('emits valid EMF with the namespace and exactly the service and circuitId dimensions', async () => {
    const metrics = new Metrics({ namespace: 'checkout', serviceName: 'payments' })
    const { clock, store, breaker } = breakerWith(metrics)
    const lines = await captureStdout(async () => {
      await rejectionOf(breaker.execute(fails))
      await rejectionOf(breaker.execute(fails))
      await rejectionOf(breaker.execute(succeeds))
      clock.advance(1_000)
      await breaker.execute(succeeds)
      store.fault = 'error'
      clock.advance(10_000)
      await breaker.execute(succeeds)
    })
    const documents = emfDocuments(lines)
    expect(documents.length).toBeGreaterThan(0)
    for (const document of documents) {
      expect(emfProblems(document)).toEqual([])
      const [directive] = (document._aws as { CloudWatchMetrics: Array<Record<string, unknown>> }).CloudWatchMetrics
      expect(directive?.Namespace).toBe('checkout')
      expect(directive?.Dimensions).toEqual([['service', 'circuitId']])
      expect(document.service).toBe('payments')
      expect(document.circuitId).toBe('payment-api')
      expect((directive?.Metrics as unknown[] | undefined)?.length).toBeLessThanOrEqual(100)
    }
    const totals = metricTotals(documents)
    expect(totals.get(BreakerMetric.FAILURES_COUNTED)).toBe(2)
    expect(totals.get(BreakerMetric.CIRCUIT_OPENED)).toBe(1)
    expect(totals.get(BreakerMetric.CALLS_REJECTED)).toBe(1)
    expect(totals.get(BreakerMetric.CIRCUIT_HALF_OPENED)).toBe(1)
    expect(totals.get(BreakerMetric.PROBE_SUCCEEDED)).toBe(1)
    expect(totals.get(BreakerMetric.CIRCUIT_CLOSED)).toBe(1)
    expect(totals.get(BreakerMetric.STORE_ERRORS)).toBe(1)
    expect(totals.get(BreakerMetric.FAIL_OPEN_CALLS)).toBe(1)
    expect(totals.get(BreakerMetric.STORE_LATENCY)).toBeGreaterThanOrEqual(0)
    const units = new Map(
      documents.flatMap(
        (document) =>
          (
            document._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string; Unit: string }> }> }
          ).CloudWatchMetrics[0]?.Metrics.map((metric) => [metric.Name, metric.Unit] as const) ?? [],
      ),
    )
    expect(units.get(BreakerMetric.STORE_LATENCY)).toBe('Milliseconds')
    expect(units.get(BreakerMetric.CIRCUIT_OPENED)).toBe('Count')
    const rejection = documents.find((document) => BreakerMetric.CALLS_REJECTED in document)
    expect(rejection?.rejectionReason).toBe(RejectedBecause.OPEN)
  })

  it("leaves the user's own buffered metrics and dimensions alone", async () => {
    const metrics = new Metrics({ namespace: 'checkout', serviceName: 'payments' })
    const { breaker } = breakerWith(metrics)
    const lines = await captureStdout(async () => {
      metrics.addDimension('tenant', 'acme')
      metrics.addMetric('OrdersPlaced', 'Count', 1)
      await rejectionOf(breaker.execute(fails))
      metrics.publishStoredMetrics()
    })
    const documents = emfDocuments(lines)
    const own = documents.find((document) => 'OrdersPlaced' in document)
    expect(own?.circuitId).toBeUndefined()
    expect(
      (own?._aws as { CloudWatchMetrics: Array<{ Dimensions: unknown }> } | undefined)?.CloudWatchMetrics[0]
        ?.Dimensions,
    ).toEqual([['service', 'tenant']])
    const failure = documents.find((document) => BreakerMetric.FAILURES_COUNTED in document)
    expect(failure?.tenant).toBeUndefined()
    expect(failure?.OrdersPlaced).toBeUndefined()
  })

  it('counts a call shadow mode let through as CallsWouldReject, not CallsRejected', async () => {
    const metrics = new Metrics({ namespace: 'checkout', serviceName: 'payments' })
    const { breaker } = breakerWith(metrics, { shadow: true })
    const lines = await captureStdout(async () => {
      await rejectionOf(breaker.execute(fails))
      await rejectionOf(breaker.execute(fails))
      await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    })
    const totals = metricTotals(emfDocuments(lines))
    expect(totals.get(BreakerMetric.CALLS_WOULD_REJECT)).toBe(1)
    expect(totals.get(BreakerMetric.CALLS_REJECTED)).toBeUndefined()
  })
})

describe('a Powertools Logger as the breaker logger', () => {
  it('type-checks as the logger option and writes structured fields (circuitId, operation, policy)', async () => {
    const logger: Logger = new PowertoolsLogger({ serviceName: 'payments' })
    const store = new InstrumentedStore(new MemoryStore())
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store, logger })
    store.fault = 'error'
    const lines = await captureStdout(async () => {
      await breaker.execute(succeeds)
    }, [process.stdout, process.stderr])
    const entries = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })
    const warning = entries.find((entry) => entry.message === 'fleet-breaker: circuit store unavailable')
    expect(warning).toMatchObject({ level: 'WARN', service: 'payments', circuitId: 'payment-api', policy: 'fail-open' })
  })
})
