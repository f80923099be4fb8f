import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { Tracer } from '@aws-lambda-powertools/tracer'
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware'
import { BreakerMetric, type BreakerObserver, CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
import { circuitBreaker } from '@fleet-breaker/middy'
import { describe, expect, it, jest } from '@jest/globals'
import { captureStdout, emfDocuments, metricTotals } from '../../../../test-support/emf.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { context, httpEvent, versions } from '../support/chains.js'

/**
 * A real Tracer with tracing on (as in Lambda), whose X-Ray segments are stand-ins: outside Lambda
 * there is no trace context to attach real ones to.
 */
function tracerWithSegments() {
  const previous = process.env.AWS_EXECUTION_ENV
  process.env.AWS_EXECUTION_ENV = 'AWS_Lambda_nodejs22.x'
  const tracer = new Tracer({ serviceName: 'quotes', captureHTTPsRequests: false })
  if (previous === undefined) delete process.env.AWS_EXECUTION_ENV
  else process.env.AWS_EXECUTION_ENV = previous
  const handlerSegment = { name: '## handler', close: jest.fn(), addAnnotation() {}, addMetadata() {}, addError() {} }
  const lambdaSegment = {
    name: 'lambda',
    addNewSubsegment: jest.fn(() => handlerSegment),
    addAnnotation() {},
    addMetadata() {},
  }
  let current: unknown = lambdaSegment
  // Annotations go to the X-Ray context, which only exists in Lambda; the segments are what is checked.
  jest.spyOn(tracer, 'annotateColdStart').mockImplementation(() => undefined)
  jest.spyOn(tracer, 'addServiceNameAnnotation').mockImplementation(() => undefined)
  jest.spyOn(tracer, 'addResponseAsMetadata').mockImplementation(() => undefined)
  jest.spyOn(tracer, 'getSegment').mockImplementation(() => current as never)
  jest.spyOn(tracer, 'setSegment').mockImplementation((segment) => {
    current = segment
  })
  return { tracer, lambdaSegment, handlerSegment, current: () => current }
}

/** A middleware of the user's, before the breaker: it buffers a metric and a temporary log key. */
function userMiddleware(metrics: Metrics, logger: Logger) {
  return {
    before: async () => {
      metrics.addMetric('QuoteRequests', 'Count', 1)
      logger.appendKeys({ quoteRequest: 'q-1' })
    },
  }
}

describe.each(versions)('Powertools middlewares with an early return on %s', (_name, { middy }) => {
  it('still flush metrics, close the trace segment and reset log keys when the circuit is open', async () => {
    const metrics = new Metrics({ namespace: 'quotes', serviceName: 'quotes' })
    const logger = new Logger({ serviceName: 'quotes' })
    const { tracer, lambdaSegment, handlerSegment, current } = tracerWithSegments()
    const flushed: string[] = []
    const observer: BreakerObserver = { flush: async () => void flushed.push('flushed') }
    const breaker = new CircuitBreaker({
      circuitId: 'quote-api',
      store: new MemoryStore(),
      metrics,
      logger: silentLogger,
      observers: [observer],
    })
    await breaker.forceOpen({ reason: 'maintenance' })
    const handlerRan = jest.fn(async () => ({ statusCode: 200, body: 'quote' }))
    const handler = middy(handlerRan)
      .use(captureLambdaHandler(tracer))
      .use(injectLambdaContext(logger, { resetKeys: true }))
      .use(logMetrics(metrics))
      .use(userMiddleware(metrics, logger))
      .use(circuitBreaker({ breaker }))
    let response: unknown
    const lines = await captureStdout(async () => {
      response = await handler(httpEvent, context)
      logger.info('after the invocation')
    })
    expect(handlerRan).not.toHaveBeenCalled()
    expect(response).toMatchObject({ statusCode: 503 })
    const documents = emfDocuments(lines)
    // logMetrics published what the user's middleware buffered; the rejection went out on its own.
    expect(metricTotals(documents).get('QuoteRequests')).toBe(1)
    expect(metricTotals(documents).get(BreakerMetric.CALLS_REJECTED)).toBe(1)
    // captureLambdaHandler closed its subsegment and gave the Lambda segment back.
    expect(lambdaSegment.addNewSubsegment).toHaveBeenCalledTimes(1)
    expect(handlerSegment.close).toHaveBeenCalledTimes(1)
    expect(current()).toBe(lambdaSegment)
    // injectLambdaContext reset the invocation's keys.
    const after = lines
      .flatMap((line) => (line.startsWith('{') ? [JSON.parse(line) as Record<string, unknown>] : []))
      .find((entry) => entry.message === 'after the invocation')
    expect(lines.filter((line) => !line.startsWith('{'))).toEqual([])
    expect(after).toBeDefined()
    expect(after?.quoteRequest).toBeUndefined()
    // The breaker's observers were flushed before the invocation ended.
    expect(flushed).toEqual(['flushed'])
  })

  it('leave the cleanup to the Powertools hooks themselves when the call goes through', async () => {
    const metrics = new Metrics({ namespace: 'quotes', serviceName: 'quotes' })
    const { tracer, handlerSegment } = tracerWithSegments()
    const flushed: string[] = []
    const breaker = new CircuitBreaker({
      circuitId: 'quote-api',
      store: new MemoryStore(),
      logger: silentLogger,
      observers: [{ flush: async () => void flushed.push('flushed') }],
    })
    const handler = middy(async () => ({ statusCode: 200, body: 'quote' }))
      .use(captureLambdaHandler(tracer))
      .use(logMetrics(metrics))
      .use(userMiddleware(metrics, new Logger({ serviceName: 'quotes' })))
      .use(circuitBreaker({ breaker }))
    const lines = await captureStdout(async () => {
      await expect(handler(httpEvent, context)).resolves.toMatchObject({ statusCode: 200 })
    })
    expect(metricTotals(emfDocuments(lines)).get('QuoteRequests')).toBe(1)
    expect(handlerSegment.close).toHaveBeenCalledTimes(1)
    expect(flushed).toEqual(['flushed'])
  })
})
