import { Metrics } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { BreakerMetric, type BreakerObserver, CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
import { circuitBreaker } from '@fleet-breaker/middy'
import { describe, expect, it, jest } from '@jest/globals'
import { captureStdout, emfDocuments, metricTotals } from '../../../../test-support/emf.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { httpEvent, versions } from '../support/chains.js'

jest.setTimeout(60_000)

const REMAINING_MS = 1_000
const MARGIN_MS = 850
/** An invocation with a second left. */
const closeToTheDeadline = { getRemainingTimeInMillis: () => REMAINING_MS } as never
/** An event of no source the middleware knows: a rejection without a fallback is thrown. */
const unknownEvent = { job: 'reprice' }

/** An observer whose flush never finishes (a sink that hangs), noting the time it is offered. */
function hungObserver() {
  const offered: Array<number | undefined> = []
  const observer: BreakerObserver = {
    flush: (timeoutMs?: number) => {
      offered.push(timeoutMs)
      return new Promise<void>(() => undefined)
    },
  }
  return { observer, offered }
}

type Path = 'fallback' | 'rejection thrown' | 'handler error' | 'success'
const paths: Path[] = ['fallback', 'rejection thrown', 'handler error', 'success']

describe.each(versions)('the end of an invocation on %s', (_name, { middy }) => {
  it.each(paths)(
    'flushes Powertools metrics and offers observers only the time left before the deadline (%s)',
    async (path) => {
      const metrics = new Metrics({ namespace: 'quotes', serviceName: 'quotes' })
      const { observer, offered } = hungObserver()
      const breaker = new CircuitBreaker({
        circuitId: 'quote-api',
        store: new MemoryStore(),
        metrics,
        logger: silentLogger,
        observers: [observer],
      })
      if (path === 'fallback' || path === 'rejection thrown') await breaker.forceOpen({ reason: 'maintenance' })
      const handler = middy(async () => {
        if (path === 'handler error') throw new Error('handler failed')
        return { statusCode: 200, body: 'quote' }
      })
        .use(logMetrics(metrics))
        .use({
          before: async () => {
            metrics.addMetric('QuoteRequests', 'Count', 1)
          },
        })
        .use(
          circuitBreaker({
            breaker,
            deadlineMarginMs: MARGIN_MS,
            ...(path === 'fallback' ? { fallback: () => ({ statusCode: 200, body: 'stale quote' }) } : {}),
          }),
        )
      const event = path === 'rejection thrown' ? unknownEvent : httpEvent
      const lines = await captureStdout(async () => {
        const outcome = handler(event, closeToTheDeadline)
        if (path === 'rejection thrown') await expect(outcome).rejects.toThrow(/open/i)
        else if (path === 'handler error') await expect(outcome).rejects.toThrow('handler failed')
        else await expect(outcome).resolves.toMatchObject({ statusCode: 200 })
      })
      // The user's buffered metric went out through logMetrics, whichever way the chain ended.
      expect(metricTotals(emfDocuments(lines)).get('QuoteRequests')).toBe(1)
      if (path === 'fallback' || path === 'rejection thrown') {
        expect(metricTotals(emfDocuments(lines)).get(BreakerMetric.CALLS_REJECTED)).toBe(1)
      }
      // The hung flush was offered no more than the time left less the margin, so the response
      // never waits past the deadline for it.
      expect(offered).toHaveLength(1)
      expect(offered[0]).toBeDefined()
      expect(offered[0]).toBeLessThanOrEqual(REMAINING_MS - MARGIN_MS)
    },
  )
})
