import {
  CircuitBreaker as Breaker,
  type CircuitBreaker,
  CircuitState,
  InvalidConfigurationError,
  isCircuitOpenError,
  MemoryStore,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { circuitBreaker } from '@fleet-breaker/middy'
import { describe, expect, it, jest } from '@jest/globals'
import middy7 from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import middy5 from 'middy-core-5'
import middy6 from 'middy-core-6'
import { silentLogger } from '../../../../test-support/logger.js'

/*
 * The middleware in real Middy chains, on every Middy major it supports. A chain is built around
 * a handler that calls the "downstream" as the test says.
 */

type Middy = typeof middy7
const versions: Array<[string, Middy]> = [
  ['Middy 5', middy5 as unknown as Middy],
  ['Middy 6', middy6 as unknown as Middy],
  ['Middy 7', middy7],
]

const context = { getRemainingTimeInMillis: () => 30_000 } as never

const httpEvent = {
  version: '2.0',
  routeKey: 'GET /quote',
  rawPath: '/quote',
  requestContext: { http: { method: 'GET' } },
}
const restEvent = { httpMethod: 'GET', path: '/quote', requestContext: { stage: 'prod' } }
const albEvent = {
  httpMethod: 'GET',
  path: '/quote',
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:tg' } },
}
const sqsEvent = {
  Records: [
    { messageId: 'm-1', eventSource: 'aws:sqs', body: '{}' },
    { messageId: 'm-2', eventSource: 'aws:sqs', body: '{}' },
  ],
}
const eventBridgeEvent = { source: 'orders', 'detail-type': 'OrderPlaced', detail: {} }

const serverError = () => Object.assign(new Error('downstream failed'), { statusCode: 502 })
const clientError = (statusCode: number) => Object.assign(new Error(`client error ${statusCode}`), { statusCode })

function setup(options: { failureThreshold?: number; maxConcurrent?: number } = {}) {
  const clock = new ManualClock()
  const store = new InstrumentedStore(new MemoryStore())
  const breaker: CircuitBreaker<unknown> = new Breaker({
    circuitId: 'quote-api',
    store,
    now: clock.now,
    logger: silentLogger,
    failureThreshold: options.failureThreshold ?? 2,
    resetTimeoutMs: 10_000,
    ...(options.maxConcurrent === undefined ? {} : { maxConcurrent: options.maxConcurrent, maxQueued: 0 }),
  })
  return { clock, store, breaker }
}

async function openCircuit(breaker: CircuitBreaker<unknown>) {
  for (let i = 0; i < breaker.options.failureThreshold; i++) {
    await breaker.execute(async () => Promise.reject(serverError())).catch(() => undefined)
  }
}

describe.each(versions)('circuitBreaker on %s', (_version, middy) => {
  it('lets calls through while closed and writes nothing for a healthy response', async () => {
    const { breaker, store } = setup()
    await breaker.getState()
    store.resetCounts()
    const handler = middy(async () => ({ statusCode: 200, body: 'quote' })).use(circuitBreaker({ breaker }))
    await expect(handler(httpEvent, context)).resolves.toEqual({ statusCode: 200, body: 'quote' })
    expect(store.writes).toBe(0)
  })

  it('counts a 5xx response as a failure and opens the circuit', async () => {
    const { breaker } = setup()
    const handler = middy(async () => ({ statusCode: 503, body: 'busy' })).use(circuitBreaker({ breaker }))
    await handler(httpEvent, context)
    await handler(httpEvent, context)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('counts with a custom response predicate', async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const handler = middy(async () => ({ ok: false })).use(
      circuitBreaker({ breaker, isFailureResponse: (response: { ok: boolean }) => !response.ok }),
    )
    await handler({}, context)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('answers API Gateway HTTP APIs and function URLs with 503 and Retry-After from the shared retry time', async () => {
    const { breaker, clock } = setup()
    await openCircuit(breaker)
    clock.advance(2_500)
    const downstream = jest.fn(async () => ({ statusCode: 200 }))
    const handler = middy(downstream).use(circuitBreaker({ breaker }))
    const response = await handler(httpEvent, context)
    expect(downstream).not.toHaveBeenCalled()
    expect(response).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '8' } })
  })

  it('answers REST APIs with 503 and ALB with 503 and a status description', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const handler = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
    expect(await handler(restEvent, context)).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '10' } })
    expect(await handler(albEvent, context)).toMatchObject({
      statusCode: 503,
      statusDescription: '503 Service Unavailable',
      isBase64Encoded: false,
    })
  })

  it('reports every SQS record as a batch item failure, so the messages return to the queue', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const handler = middy(async () => ({ batchItemFailures: [] })).use(circuitBreaker({ breaker }))
    expect(await handler(sqsEvent, context)).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-1' }, { itemIdentifier: 'm-2' }],
    })
  })

  it('rethrows for other asynchronous events, so Lambda retries keep the event, and counts nothing', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const { record } = await breaker.getState()
    const handler = middy(async () => 'done').use(circuitBreaker({ breaker }))
    const error = await handler(eventBridgeEvent, context).catch((caught: unknown) => caught)
    expect(isCircuitOpenError(error)).toBe(true)
    expect((await breaker.getState()).record).toEqual(record)
  })

  it('returns the fallback instead, skipping the handler and every after hook', async () => {
    const { breaker } = setup()
    await openCircuit(breaker)
    const laterAfter = jest.fn(async () => undefined)
    const fallback = jest.fn((_error: unknown) => ({ statusCode: 200, body: 'cached quote' }))
    const downstream = jest.fn(async () => ({ statusCode: 200, body: 'live quote' }))
    const handler = middy(downstream).use({ after: laterAfter }).use(circuitBreaker({ breaker, fallback }))
    expect(await handler(httpEvent, context)).toEqual({ statusCode: 200, body: 'cached quote' })
    expect(downstream).not.toHaveBeenCalled()
    expect(laterAfter).not.toHaveBeenCalled()
    expect(isCircuitOpenError(fallback.mock.calls[0]?.[0])).toBe(true)
  })

  it('records a handler error and passes it on unchanged', async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const thrown = serverError()
    const handler = middy(async () => Promise.reject(thrown)).use(circuitBreaker({ breaker }))
    await expect(handler(httpEvent, context)).rejects.toBe(thrown)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('does not count a client error from the handler', async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const handler = middy(async () => Promise.reject(clientError(404))).use(circuitBreaker({ breaker }))
    await expect(handler(httpEvent, context)).rejects.toThrow('client error 404')
    expect((await breaker.getState()).failures).toBe(0)
  })

  it.each([
    ['registered before it', 'before'],
    ['registered after it', 'after'],
  ])('never records a validation or auth error thrown by another middleware %s', async (_where, order) => {
    const { breaker, store } = setup({ failureThreshold: 1 })
    await breaker.getState()
    store.resetCounts()
    const validator = { before: async () => Promise.reject(clientError(400)) }
    const authoriser = { before: async () => Promise.reject(clientError(401)) }
    for (const rejecting of [validator, authoriser]) {
      const downstream = jest.fn(async () => ({ statusCode: 200 }))
      const guard = circuitBreaker({ breaker })
      const handler =
        order === 'before' ? middy(downstream).use(rejecting).use(guard) : middy(downstream).use(guard).use(rejecting)
      await expect(handler(httpEvent, context)).rejects.toThrow(/client error 40[01]/)
      expect(downstream).not.toHaveBeenCalled()
    }
    expect(store.writes).toBe(0)
    // Every permit was given back: a concurrency limit of 1 would otherwise reject this call.
    await expect(middy(async () => 'ok').use(circuitBreaker({ breaker }))(httpEvent, context)).resolves.toBe('ok')
  })

  it('does not record an infrastructure error thrown by a middleware registered before it', async () => {
    const { breaker, store } = setup({ failureThreshold: 1 })
    const parameterLoader = {
      before: async () => Promise.reject(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })),
    }
    const handler = middy(async () => 'unreached')
      .use(parameterLoader)
      .use(circuitBreaker({ breaker }))
    await expect(handler(httpEvent, context)).rejects.toThrow('ECONNRESET')
    expect(store.writes).toBe(0)
  })

  it.each([
    ['before', 'before'],
    ['after', 'after'],
  ])(
    'composes with @middy/http-error-handler registered %s it: that response wins, the failure is counted',
    async (_where, order) => {
      const { breaker } = setup({ failureThreshold: 1 })
      const downstream = async () => Promise.reject(Object.assign(serverError(), { expose: true, status: 502 }))
      const handler =
        order === 'before'
          ? middy(downstream)
              .use(httpErrorHandler({ logger: false }))
              .use(circuitBreaker({ breaker }))
          : middy(downstream)
              .use(circuitBreaker({ breaker }))
              .use(httpErrorHandler({ logger: false }))
      const response = await handler(httpEvent, context)
      expect(response).toMatchObject({ statusCode: 502 })
      expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    },
  )

  it('gives the probe lease back when the probe hits a client error, so the next call can probe', async () => {
    const { breaker, clock } = setup({ failureThreshold: 1 })
    await openCircuit(breaker)
    clock.advance(10_000)
    const failingClient = middy(async () => Promise.reject(clientError(422))).use(circuitBreaker({ breaker }))
    await expect(failingClient(httpEvent, context)).rejects.toThrow('client error 422')
    const healthy = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
    expect(await healthy(httpEvent, context)).toEqual({ statusCode: 200 })
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('releases a permit whose after hook another middleware skipped, once the invocation must be over', async () => {
    const { breaker, clock } = setup({ maxConcurrent: 1 })
    const shortContext = { getRemainingTimeInMillis: () => 1_000 } as never
    const endsEarly = { after: async () => ({ statusCode: 204 }) }
    const skipping = middy(async () => ({ statusCode: 200 }))
      .use(circuitBreaker({ breaker }))
      .use(endsEarly)
    expect(await skipping(httpEvent, shortContext)).toEqual({ statusCode: 204 })
    const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
    expect(await next(httpEvent, shortContext)).toMatchObject({ statusCode: 503 }) // the slot is still held
    clock.advance(2_001)
    expect(await next(httpEvent, shortContext)).toEqual({ statusCode: 200 })
  })

  it('keeps two breakers on one handler apart', async () => {
    const payments = setup({ failureThreshold: 1 })
    const inventory = setup({ failureThreshold: 1 })
    const handler = middy(async () => Promise.reject(serverError()))
      .use(circuitBreaker({ breaker: payments.breaker }))
      .use(circuitBreaker({ breaker: inventory.breaker }))
    await expect(handler(eventBridgeEvent, context)).rejects.toThrow('downstream failed')
    expect((await payments.breaker.getState()).state).toBe(CircuitState.OPEN)
    expect((await inventory.breaker.getState()).state).toBe(CircuitState.OPEN)
  })
})

describe('circuitBreaker options', () => {
  it('creates the breaker from options, once', async () => {
    const store = new MemoryStore()
    const guard = circuitBreaker({
      breaker: { circuitId: 'from-options', store, failureThreshold: 1, logger: silentLogger },
    })
    const handler = middy7(async () => Promise.reject(serverError())).use(guard)
    await expect(handler(eventBridgeEvent, context)).rejects.toThrow('downstream failed')
    expect(isCircuitOpenError(await handler(eventBridgeEvent, context).catch((error: unknown) => error))).toBe(true)
  })

  it.each([
    [{ breaker: 'payment' }, /breaker must be a CircuitBreaker/],
    [{ breaker: new MemoryStore(), fallback: 'cached' }, /fallback must be a function/],
  ])('rejects %j with a typed error', (options, message) => {
    expect(() => circuitBreaker(options as never)).toThrow(InvalidConfigurationError)
    expect(() => circuitBreaker(options as never)).toThrow(message)
  })
})
