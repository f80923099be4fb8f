import { CircuitState, InvalidConfigurationError, isCircuitOpenError, MemoryStore } from '@fleet-breaker/core'
import { circuitBreaker, type MiddyRequest, settleCircuitBreakerPermits } from '@fleet-breaker/middy'
import { describe, expect, it, jest } from '@jest/globals'
import middy7 from '@middy/core'
import middy5 from 'middy-core-5'
import { silentLogger } from '../../../../test-support/logger.js'
import {
  albEvent,
  clientError,
  context,
  deferred,
  eventBridgeEvent,
  httpEvent,
  type Middy,
  openCircuit,
  restEvent,
  serverError,
  setup,
  sqsEvent,
  versions,
  watchSettlements,
} from '../support/chains.js'

/*
 * The middleware in real Middy chains, on every Middy major it supports, each with the
 * `@middy/http-error-handler` of the same major. A chain is built around a handler that calls the
 * "downstream" as the test says.
 */

/** Middlewares that end the chain early from each hook, and a handler for each case. */
const endsEarly = {
  before: { before: async () => ({ statusCode: 204 }) },
  after: { after: async () => ({ statusCode: 204 }) },
  onError: { onError: async () => ({ statusCode: 502, body: 'handled' }) },
} as const
type Hook = keyof typeof endsEarly
const handlerFor = (hook: Hook) =>
  hook === 'onError' ? async () => Promise.reject(serverError()) : async () => ({ statusCode: 200 })
const earlyReturns: Array<[Hook]> = [['before'], ['after'], ['onError']]

describe.each(versions)('circuitBreaker on %s', (_version, { middy, httpErrorHandler }) => {
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
      circuitBreaker({ breaker, isFailureResult: (response: { ok: boolean }) => !response.ok }),
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

  it.each(
    (['before', 'after'] as const).flatMap(
      (order) =>
        [
          ['a TypeError', order, () => new TypeError("Cannot read properties of undefined (reading 'price')"), false],
          [
            'a 404 it does not expose',
            order,
            () => Object.assign(new Error('quote not found'), { statusCode: 404, expose: false }),
            false,
          ],
          ['a 502 it does not expose', order, serverError, true],
        ] as const,
    ),
  )(
    'records the error the handler threw (%s), not the 500 that @middy/http-error-handler registered %s it made of it',
    async (_kind, order, thrown, counted) => {
      const { breaker } = setup({ failureThreshold: 1 })
      const downstream = async () => Promise.reject(thrown())
      const handler =
        order === 'before'
          ? middy(downstream)
              .use(httpErrorHandler({ logger: false }))
              .use(circuitBreaker({ breaker }))
          : middy(downstream)
              .use(circuitBreaker({ breaker }))
              .use(httpErrorHandler({ logger: false }))
      expect(await handler(httpEvent, context)).toMatchObject({ statusCode: 500 })
      const { state, failures } = await breaker.getState()
      expect(state).toBe(counted ? CircuitState.OPEN : CircuitState.CLOSED)
      if (!counted) expect(failures).toBe(0)
    },
  )

  it.each([
    ['before', 'before'],
    ['after', 'after'],
  ])(
    'leaves request.error as @middy/http-error-handler registered %s it set it, a plain property, for the middlewares after it',
    async (_where, order) => {
      const { breaker } = setup({ failureThreshold: 1 })
      let seen: { error: unknown; descriptor: PropertyDescriptor | undefined } | undefined
      // Registered first: its onError runs last.
      const observer = {
        onError: async (request: MiddyRequest) => {
          seen = { error: request.error, descriptor: Object.getOwnPropertyDescriptor(request, 'error') }
        },
      }
      const downstream = async () => Promise.reject(new TypeError('bug'))
      const handler =
        order === 'before'
          ? middy(downstream)
              .use(observer)
              .use(httpErrorHandler({ logger: false }))
              .use(circuitBreaker({ breaker }))
          : middy(downstream)
              .use(observer)
              .use(circuitBreaker({ breaker }))
              .use(httpErrorHandler({ logger: false }))
      expect(await handler(httpEvent, context)).toMatchObject({ statusCode: 500 })
      expect(seen?.error).toMatchObject({ statusCode: 500, expose: true })
      expect(seen?.error).not.toBeInstanceOf(TypeError)
      expect(seen?.descriptor).toMatchObject({ writable: true, enumerable: true, configurable: true })
    },
  )

  it('keeps its per-call state in request.internal under its own fleet-breaker key, and nothing once settled', async () => {
    const { breaker } = setup()
    const keysDuringCall: string[] = []
    const keysAfterwards: string[] = []
    const handler = middy(async () => ({ statusCode: 200 }))
      .use({ after: async (request: MiddyRequest) => void keysAfterwards.push(...Object.keys(request.internal)) })
      .use(circuitBreaker({ breaker }))
      .use({ before: async (request: MiddyRequest) => void keysDuringCall.push(...Object.keys(request.internal)) })
    expect(await handler(httpEvent, context)).toEqual({ statusCode: 200 })
    expect(keysDuringCall).toEqual([expect.stringMatching(/^fleet-breaker:quote-api#\d+$/)])
    expect(keysAfterwards).toEqual([])
  })

  it('gives back at once the permit of a breaker registered before it when it rejects the call', async () => {
    const guarded = setup({ maxConcurrent: 1 })
    const rejecting = setup()
    await openCircuit(rejecting.breaker)
    const settled = watchSettlements(guarded.breaker)
    const handler = middy(async () => ({ statusCode: 200 }))
      .use(circuitBreaker({ breaker: guarded.breaker }))
      .use(circuitBreaker({ breaker: rejecting.breaker }))
    expect(await handler(httpEvent, context)).toMatchObject({ statusCode: 503 })
    expect(settled).toEqual([['release']])
    // The slot is free: a concurrency limit of 1, with no queue, would otherwise reject this call.
    const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker: guarded.breaker }))
    expect(await next(httpEvent, context)).toEqual({ statusCode: 200 })
  })

  it.each(earlyReturns)(
    'with settleCircuitBreakerPermits as the requestEnd hook, settles the permit at once when a middleware registered after it ends the chain from %s',
    async (hook) => {
      const { breaker } = setup({ maxConcurrent: 1, failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const handler = middy(handlerFor(hook), { requestEnd: settleCircuitBreakerPermits })
        .use(circuitBreaker({ breaker }))
        .use(endsEarly[hook])
      expect(await handler(httpEvent, context)).toMatchObject({ statusCode: hook === 'onError' ? 502 : 204 })
      expect(settled).toEqual([[hook === 'onError' ? 'recordError' : 'release']])
      if (hook === 'onError') {
        // The error the handler threw was recorded, though the breaker's own onError never ran.
        expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
      } else {
        const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
        expect(await next(httpEvent, context)).toEqual({ statusCode: 200 })
        expect(settled).toEqual([['release'], ['recordSuccess']])
      }
    },
  )

  it('settles a permit whose onError hook a throwing middleware skipped once the invocation must be over, with the error the call threw', async () => {
    const { breaker, clock } = setup({ maxConcurrent: 1, failureThreshold: 1 })
    const settled = watchSettlements(breaker)
    const shortContext = { getRemainingTimeInMillis: () => 1_000 } as never
    const failingLogger = { onError: async () => Promise.reject(new Error('log sink unavailable')) }
    const skipping = middy(async () => Promise.reject(serverError()))
      .use(circuitBreaker({ breaker }))
      .use(failingLogger)
    await expect(skipping(httpEvent, shortContext)).rejects.toThrow('log sink unavailable')
    const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
    expect(await next(httpEvent, shortContext)).toMatchObject({ statusCode: 503 }) // the slot is still held
    expect(settled).toEqual([[]])
    clock.advance(2_001)
    await next(httpEvent, shortContext)
    expect(settled).toEqual([['recordError']])
    // The handler's 502 was recorded (not the logger's error, which the classifier would ignore).
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('settles each of two overlapping calls once, with its own outcome, when the plugin shares request.internal', async () => {
    const { breaker } = setup()
    const settled = watchSettlements(breaker)
    const calls = [
      { entered: deferred<undefined>(), response: deferred<{ statusCode: number }>() },
      { entered: deferred<undefined>(), response: deferred<{ statusCode: number }>() },
    ] as const
    let started = 0
    // Middy 5 and 6 give every request the plugin's `internal` object itself, not a copy.
    const handler = middy(
      async () => {
        const call = calls[started++ % 2]
        call?.entered.resolve(undefined)
        return call?.response.promise
      },
      { internal: {} },
    ).use(circuitBreaker({ breaker }))
    const first = handler(httpEvent, context)
    await calls[0].entered.promise
    const second = handler(httpEvent, context)
    await calls[1].entered.promise
    calls[0].response.resolve({ statusCode: 503 })
    expect(await first).toEqual({ statusCode: 503 })
    expect(settled).toEqual([['recordFailure'], []])
    calls[1].response.resolve({ statusCode: 200 })
    expect(await second).toEqual({ statusCode: 200 })
    expect(settled).toEqual([['recordFailure'], ['recordSuccess']])
  })

  it("counts a response slower than the breaker's slowCallDurationMs, timed from admission, as a failure", async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, slowCallDurationMs: 1_000 })
    const settled = watchSettlements(breaker)
    const handler = middy(async () => {
      clock.advance(1_500)
      return { statusCode: 200 }
    }).use(circuitBreaker({ breaker }))
    expect(await handler(httpEvent, context)).toEqual({ statusCode: 200 })
    expect(settled).toEqual([['recordSuccess']])
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it("answers a call the breaker's rampUpMs holds back after the circuit closed like an open circuit: 503 with Retry-After, or the fallback", async () => {
    const { breaker, clock } = setup({ failureThreshold: 1, rampUpMs: 10_000 })
    await openCircuit(breaker)
    clock.advance(10_000)
    const downstream = jest.fn(async () => ({ statusCode: 200 }))
    const handler = middy(downstream).use(circuitBreaker({ breaker }))
    expect(await handler(httpEvent, context)).toEqual({ statusCode: 200 }) // the probe closes the circuit
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
    clock.advance(100)
    expect(await handler(httpEvent, context)).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '1' } })
    expect(downstream).toHaveBeenCalledTimes(1)
    const fallback = jest.fn((_error: unknown) => ({ statusCode: 200, body: 'cached quote' }))
    const withFallback = middy(downstream).use(circuitBreaker({ breaker, fallback }))
    expect(await withFallback(httpEvent, context)).toEqual({ statusCode: 200, body: 'cached quote' })
    expect(fallback.mock.calls[0]?.[0]).toMatchObject({ reason: 'ramping' })
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

describe.each(versions.filter(([, major]) => major.marksEarlyResponses))(
  'circuitBreaker on %s, when another middleware ends the chain early',
  (_version, { middy }) => {
    it.each(earlyReturns)(
      'settles the permit before the next call is admitted when a middleware registered after it ends the chain from %s',
      async (hook) => {
        const { breaker } = setup({ maxConcurrent: 1, failureThreshold: 1 })
        const settled = watchSettlements(breaker)
        const handler = middy(handlerFor(hook)).use(circuitBreaker({ breaker })).use(endsEarly[hook])
        expect(await handler(httpEvent, context)).toMatchObject({ statusCode: hook === 'onError' ? 502 : 204 })
        const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
        if (hook === 'onError') {
          // The error the handler threw is recorded first, and opens the circuit.
          expect(await next(httpEvent, context)).toMatchObject({ statusCode: 503 })
          expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
          expect(settled).toEqual([['recordError']])
        } else {
          // A concurrency limit of 1, with no queue, would reject this call if the slot were still held.
          expect(await next(httpEvent, context)).toEqual({ statusCode: 200 })
          expect(settled).toEqual([['release'], ['recordSuccess']])
          expect((await breaker.getState()).failures).toBe(0)
        }
      },
    )
  },
)

describe('circuitBreaker on Middy 5, which does not mark early responses', () => {
  it.each([['before'], ['after']] as Array<[Hook]>)(
    'without the requestEnd hook, gives back a permit a middleware registered after it skipped from %s once the invocation must be over',
    async (hook) => {
      const { breaker, clock } = setup({ maxConcurrent: 1 })
      const settled = watchSettlements(breaker)
      const shortContext = { getRemainingTimeInMillis: () => 1_000 } as never
      const middy = middy5 as unknown as Middy
      const skipping = middy(handlerFor(hook)).use(circuitBreaker({ breaker })).use(endsEarly[hook])
      expect(await skipping(httpEvent, shortContext)).toEqual({ statusCode: 204 })
      const next = middy(async () => ({ statusCode: 200 })).use(circuitBreaker({ breaker }))
      expect(await next(httpEvent, shortContext)).toMatchObject({ statusCode: 503 }) // the slot is still held
      clock.advance(2_001)
      expect(await next(httpEvent, shortContext)).toEqual({ statusCode: 200 })
      expect(settled).toEqual([['release'], ['recordSuccess']])
    },
  )
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
