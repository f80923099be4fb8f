import { CircuitState, InvalidConfigurationError } from '@fleet-breaker/core'
import { circuitBreaker } from '@fleet-breaker/middy'
import { describe, expect, it } from '@jest/globals'
import middy7 from '@middy/core'
import {
  httpEvent,
  recorded,
  type Settlement,
  serverError,
  setup,
  until,
  versions,
  watchSettlements,
} from '../support/chains.js'

/*
 * The invocation's deadline, in real Middy chains, on real timers. The context always answers the
 * same remaining time, so however late a busy machine runs the middleware, the breaker's timer and
 * Middy's are armed for the same delays; the tests assert on what was recorded, never on how fast.
 */

/** A Lambda context whose invocation always has `ms` left. */
function endingIn(ms: number) {
  return { getRemainingTimeInMillis: () => ms } as never
}

/** Middy's handler options: the signal it aborts when its own early timeout fires. */
interface HandlerOptions {
  readonly signal: AbortSignal
}

/** A handler that runs until Middy aborts its signal, and returns a moment later. */
const untilMiddyAborts =
  (onAbort: () => void = () => {}) =>
  (_event: unknown, _context: unknown, { signal }: HandlerOptions) =>
    new Promise<{ statusCode: number }>((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          onAbort()
          setTimeout(resolve, 20, { statusCode: 200 })
        },
        { once: true },
      )
    })

describe.each(versions)('circuitBreaker at the invocation deadline on %s', (_version, { middy, httpErrorHandler }) => {
  it('records a call still running at the deadline less the margin as a failure, before the invocation ends, and ignores its later outcome', async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const settled = watchSettlements(breaker)
    const handler = middy(
      async () => {
        // The downstream answers only after the deadline timer has fired.
        await until(() => settled.flat().length > 0, 'the deadline timer fired')
        return { statusCode: 200 }
      },
      { timeoutEarlyInMillis: 0 },
    ).use(circuitBreaker({ breaker }))
    expect(await handler(httpEvent, endingIn(breaker.options.deadlineMarginMs + 30))).toEqual({ statusCode: 200 })
    expect(settled).toEqual([['recordFailure']])
    await recorded(settled)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it.each([
    ['the breaker', { deadlineMarginMs: 200 }, {}, 230],
    ['the middleware', {}, { deadlineMarginMs: 100 }, 130],
  ] as const)(
    "takes the margin from %s's deadlineMarginMs",
    async (_where, breakerOptions, middlewareOptions, remainingMs) => {
      const { breaker } = setup({ failureThreshold: 1, ...breakerOptions })
      const settled = watchSettlements(breaker)
      const handler = middy(
        async () => {
          await until(() => settled.flat().length > 0, 'the deadline timer fired')
          return { statusCode: 200 }
        },
        { timeoutEarlyInMillis: 0 },
      ).use(circuitBreaker({ breaker, ...middlewareOptions }))
      expect(await handler(httpEvent, endingIn(remainingMs))).toEqual({ statusCode: 200 })
      expect(settled).toEqual([['recordFailure']])
    },
  )

  it("with the defaults (a margin of 500 ms, Middy's timeoutEarlyInMillis of 5), records the failure before Middy ends the handler", async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const settled = watchSettlements(breaker)
    let seenWhenMiddyAborted: Settlement[][] | undefined
    const handler = middy(untilMiddyAborts(() => (seenWhenMiddyAborted = structuredClone(settled)))).use(
      circuitBreaker({ breaker }),
    )
    await expect(handler(httpEvent, endingIn(breaker.options.deadlineMarginMs + 30))).rejects.toMatchObject({
      name: 'TimeoutError',
    })
    expect(seenWhenMiddyAborted).toEqual([['recordFailure']])
    // Middy's timeout error reached onError after the permit was settled: nothing more recorded.
    expect(settled).toEqual([['recordFailure']])
    await recorded(settled)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it.each([
    ['on its own', false],
    ['with @middy/http-error-handler registered after it', true],
  ])(
    "counts Middy's early timeout as a failure, whatever the classifier says, when Middy's timeoutEarlyInMillis is longer than the margin (%s)",
    async (_how, withErrorHandler) => {
      const { breaker } = setup({ failureThreshold: 1, isFailure: () => false })
      const settled = watchSettlements(breaker)
      const guarded = middy(untilMiddyAborts(), { timeoutEarlyInMillis: 1_000 }).use(circuitBreaker({ breaker }))
      const handler = withErrorHandler ? guarded.use(httpErrorHandler({ logger: false })) : guarded
      // Middy ends the handler 30 ms in; the breaker's own timer would fire 500 ms later.
      const outcome = await handler(httpEvent, endingIn(1_030)).catch((error: unknown) => error)
      expect(outcome).toMatchObject(withErrorHandler ? { statusCode: 500 } : { name: 'TimeoutError' })
      expect(settled).toEqual([['recordFailure']])
      await recorded(settled)
      expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    },
  )

  it.each([
    ['before', 'release'],
    ['onError', 'recordError'],
  ] as const)(
    'settles at the deadline the permit of a chain a middleware registered after it ended from %s, as for a skipped hook',
    async (hook, settlement) => {
      const { breaker } = setup({ failureThreshold: 1 })
      const settled = watchSettlements(breaker)
      const endsEarly =
        hook === 'before'
          ? { before: async () => ({ statusCode: 204 }) }
          : { onError: async () => ({ statusCode: 502, body: 'handled' }) }
      const downstream =
        hook === 'before' ? async () => ({ statusCode: 200 }) : async () => Promise.reject(serverError())
      const handler = middy(downstream).use(circuitBreaker({ breaker })).use(endsEarly)
      expect(await handler(httpEvent, endingIn(breaker.options.deadlineMarginMs + 30))).toMatchObject({
        statusCode: hook === 'before' ? 204 : 502,
      })
      await until(() => settled.flat().length > 0, 'the permit was settled')
      // Not a failure: the handler had finished. The error it threw, if it threw, is recorded.
      expect(settled).toEqual([[settlement]])
      await recorded(settled)
      expect((await breaker.getState()).state).toBe(hook === 'before' ? CircuitState.CLOSED : CircuitState.OPEN)
    },
  )

  it('does not count a call admitted with less time left than the margin', async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const settled = watchSettlements(breaker)
    const handler = middy(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 50))
        return { statusCode: 200 }
      },
      { timeoutEarlyInMillis: 0 },
    ).use(circuitBreaker({ breaker }))
    expect(await handler(httpEvent, endingIn(breaker.options.deadlineMarginMs - 100))).toEqual({ statusCode: 200 })
    expect(settled).toEqual([['recordSuccess']])
  })
})

describe('circuitBreaker at the invocation deadline on Middy 7', () => {
  it("reads the deadline from a durable execution context's lambdaContext, as Middy 7 does", async () => {
    const { breaker } = setup({ failureThreshold: 1 })
    const settled = watchSettlements(breaker)
    const handler = middy7(
      async () => {
        await until(() => settled.flat().length > 0, 'the deadline timer fired')
        return { statusCode: 200 }
      },
      { timeoutEarlyInMillis: 0 },
    ).use(circuitBreaker({ breaker }))
    const durableContext = { lambdaContext: endingIn(breaker.options.deadlineMarginMs + 30) } as never
    expect(await handler(httpEvent, durableContext)).toEqual({ statusCode: 200 })
    expect(settled).toEqual([['recordFailure']])
  })
})

describe('circuitBreaker deadlineMarginMs option', () => {
  it.each([[-1], [Number.NaN], ['500']])('rejects %p with a typed error', (deadlineMarginMs) => {
    const { breaker } = setup()
    const create = () => circuitBreaker({ breaker, deadlineMarginMs: deadlineMarginMs as number })
    expect(create).toThrow(InvalidConfigurationError)
    expect(create).toThrow(/deadlineMarginMs must be a number of milliseconds, 0 or more/)
  })
})
