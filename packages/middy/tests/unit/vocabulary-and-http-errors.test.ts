import {
  CircuitBreaker,
  type Fallback,
  InvalidConfigurationError,
  isCircuitOpenError,
  MemoryStore,
} from '@fleet-breaker/core'
import { circuitBreaker, type MiddyFallbackContext } from '@fleet-breaker/middy'
import { describe, expect, it, jest } from '@jest/globals'
import { silentLogger } from '../../../../test-support/logger.js'
import {
  albEvent,
  context,
  eventBridgeEvent,
  httpEvent,
  openCircuit,
  setup,
  sqsEvent,
  versions,
} from '../support/chains.js'

/*
 * One vocabulary across the breaker and the middleware (`fallback`, `isFailureResult`), and the
 * open-circuit answer as Middy's own HTTP error for `@middy/http-error-handler`, on every major.
 */

interface HttpResult {
  statusCode: number
  headers?: Record<string, string>
  body?: string
}

/** An onError middleware registered first, as CORS or header middlewares are: it marks every error response. */
const marksErrorResponses = {
  onError: async (request: { response?: unknown }) => {
    const response = request.response as HttpResult | undefined
    if (response !== undefined) response.headers = { ...response.headers, 'X-Error-Shape': 'api' }
  },
}

describe.each(versions)('on %s', (_version, { middy, httpErrorHandler }) => {
  it('takes the same fallback function as the breaker, with the request in its context', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const seen: Array<{ circuitId: string; kind: string; path: unknown }> = []
    // Written once, typed by the breaker's Fallback, and given to the middleware as it is.
    const degraded: Fallback<HttpResult> = () => ({ statusCode: 200, body: '{"degraded":true}' })
    const fallback: Fallback<HttpResult, MiddyFallbackContext<typeof httpEvent, HttpResult>> = (error, context) => {
      seen.push({ circuitId: context.circuitId, kind: context.kind, path: context.request.event.rawPath })
      expect(isCircuitOpenError(error)).toBe(true)
      return degraded(error, context)
    }
    const handler = middy(async () => ({ statusCode: 200 }) as HttpResult).use(circuitBreaker({ breaker, fallback }))
    await expect(handler(httpEvent, context)).resolves.toEqual({ statusCode: 200, body: '{"degraded":true}' })
    expect(seen).toEqual([{ circuitId: 'quote-api', kind: 'rejected', path: httpEvent.rawPath }])
  })

  it('throws Middy’s HTTP error when asked, which http-error-handler shapes like the API’s other errors', async () => {
    const { breaker, clock } = setup()
    await openCircuit(breaker)
    clock.advance(2_500)
    const downstream = jest.fn(async () => ({ statusCode: 200 }) as HttpResult)
    const handler = middy(downstream)
      .use(marksErrorResponses)
      .use(httpErrorHandler({ logger: false }))
      .use(circuitBreaker({ breaker, throwHttpError: true }))
    const response = (await handler(httpEvent, context)) as HttpResult
    expect(downstream).not.toHaveBeenCalled()
    expect(response.statusCode).toBe(503)
    expect(response.headers).toMatchObject({
      'Retry-After': '8',
      'Content-Type': 'application/json',
      'X-Error-Shape': 'api', // it went through the onError chain like every other error
    })
    expect(JSON.parse(response.body ?? '')).toEqual({
      message: 'Service temporarily unavailable',
      retryAfterSeconds: 8,
    })

    // An error of the API's own, for comparison: the same handler and the same shape.
    const notFound = Object.assign(new Error('{"message":"no such quote"}'), { statusCode: 404, expose: true })
    const failing = middy(async () => Promise.reject(notFound))
      .use(marksErrorResponses)
      .use(httpErrorHandler({ logger: false }))
    const other = (await failing(httpEvent, context)) as HttpResult
    expect(Object.keys(other.headers ?? {}).sort()).toEqual(
      Object.keys(response.headers ?? {})
        .filter((name) => name !== 'Retry-After')
        .sort(),
    )
  })

  it('gives http-error-handler an HttpError made by @middy/util: 503, exposed, Retry-After, the breaker’s error as cause', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    let seen: unknown
    const handler = middy(async () => ({ statusCode: 200 }))
      .use({
        onError: async (request: { error?: unknown }) => {
          seen = request.error
        },
      })
      .use(circuitBreaker({ breaker, throwHttpError: true }))
    // Without an error handler, Middy rethrows it: which is why the option is the user's to set.
    await expect(handler(httpEvent, context)).rejects.toMatchObject({ statusCode: 503 })
    expect(seen).toMatchObject({
      name: 'ServiceUnavailableError',
      status: 503,
      statusCode: 503,
      expose: true,
      headers: { 'Retry-After': '10' },
    })
    expect(isCircuitOpenError((seen as Error).cause)).toBe(true)
  })

  it('keeps today’s 503 response by default, beside http-error-handler too', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    for (const handler of [
      middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker })),
      middy(async () => ({ statusCode: 200 }))
        .use(httpErrorHandler({ logger: false }))
        .use(circuitBreaker({ breaker })),
    ]) {
      expect(await handler(httpEvent, context)).toEqual({
        statusCode: 503,
        headers: { 'Content-Type': 'application/json', 'Retry-After': '10' },
        body: JSON.stringify({ message: 'Service temporarily unavailable', retryAfterSeconds: 10 }),
      })
    }
  })

  it('answers SQS and non-HTTP events as before with throwHttpError set, and ALB with the HTTP error', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const handler = middy(async () => ({ batchItemFailures: [] }))
      .use(httpErrorHandler({ logger: false }))
      .use(circuitBreaker({ breaker, throwHttpError: true }))
    expect(await handler(sqsEvent, context)).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }],
    })
    const plain = middy(async () => 'done').use(circuitBreaker({ breaker, throwHttpError: true }))
    expect(isCircuitOpenError(await plain(eventBridgeEvent, context).catch((error: unknown) => error))).toBe(true)
    const alb = middy(async () => ({ statusCode: 200 }))
      .use(httpErrorHandler({ logger: false }))
      .use(circuitBreaker({ breaker, throwHttpError: true }))
    expect(await alb(albEvent, context)).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '10' } })
  })
})

describe('one vocabulary', () => {
  const store = new MemoryStore()

  it('refuses the breaker options the middleware would never use, naming them', () => {
    const options = { store, circuitId: 'quote-api', logger: silentLogger }
    expect(() =>
      // @ts-expect-error the types refuse it too: set fallback on the middleware
      circuitBreaker({ breaker: { ...options, fallback: () => ({ statusCode: 200 }) } }),
    ).toThrow(/breaker\.fallback must be nothing here: .*pass fallback to circuitBreaker\(\) beside breaker/)
    expect(() =>
      // @ts-expect-error the types refuse it too: set isFailureResult on the middleware
      circuitBreaker({ breaker: { ...options, isFailureResult: () => true } }),
    ).toThrow(InvalidConfigurationError)
  })

  it('refuses the old name isFailureResponse, pointing to isFailureResult', () => {
    const breaker = new CircuitBreaker({ store, circuitId: 'quote-api', logger: silentLogger })
    // @ts-expect-error renamed isFailureResult
    expect(() => circuitBreaker({ breaker, isFailureResponse: () => true })).toThrow(/isFailureResult/)
  })

  it('refuses a throwHttpError that is not a boolean', () => {
    const breaker = new CircuitBreaker({ store, circuitId: 'quote-api', logger: silentLogger })
    // @ts-expect-error a boolean
    expect(() => circuitBreaker({ breaker, throwHttpError: 'yes' })).toThrow(/throwHttpError must be true or false/)
  })
})
