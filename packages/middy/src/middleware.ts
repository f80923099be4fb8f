import {
  type CallPermit,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type Fallback,
  type FallbackContext,
  flushObservers,
  InvalidConfigurationError,
} from '@fleet-breaker/core'
import { isMiddyTimeoutError, LONGEST_TIMER_MS, remainingTimeOf } from './deadline.js'
import { type ErrorWatch, watchError } from './error-watch.js'
import { isHttpEvent, rejectionResponse, unavailableHttpError } from './event-sources.js'
import type { MiddyMiddleware, MiddyRequest } from './middy-types.js'
import { cleanupPowertoolsMiddlewares } from './powertools-cleanup.js'
import { type BodyOutcome, type BodyWatch, watchStreamedResponse } from './streamed-body.js'

/**
 * What the middleware's `fallback` learns: the breaker's {@link FallbackContext} (always
 * `kind: 'rejected'`: the middleware's fallback answers calls the breaker did not let through) and
 * the Middy request.
 */
export interface MiddyFallbackContext<TEvent = unknown, TResult = unknown> extends FallbackContext {
  readonly kind: 'rejected'
  readonly request: MiddyRequest<TEvent, TResult>
}

/**
 * Breaker options for the middleware to create its breaker with. `fallback` and
 * `isFailureResult` belong on the middleware, which records the handler's response itself: given
 * here they would never run, so the types refuse them (and the middleware throws
 * `InvalidConfigurationError` for them at run time).
 */
export type MiddlewareBreakerOptions = Omit<CircuitBreakerOptions<never>, 'fallback' | 'isFailureResult'> & {
  readonly fallback?: never
  readonly isFailureResult?: never
}

/**
 * Options of the {@link circuitBreaker} middleware.
 *
 * @example
 * ```ts
 * const options: CircuitBreakerMiddlewareOptions<APIGatewayProxyEventV2, APIGatewayProxyResultV2> = {
 *   breaker: { circuitId: 'quote-api', store },
 *   fallback: () => ({ statusCode: 200, body: JSON.stringify({ quote: null, degraded: true }) }),
 * }
 * ```
 */
export interface CircuitBreakerMiddlewareOptions<TEvent = unknown, TResult = unknown> {
  /**
   * A breaker created once per execution environment, or the options to create one with (the
   * middleware creates it once, when it is created itself).
   */
  readonly breaker: CircuitBreaker<unknown> | MiddlewareBreakerOptions
  /**
   * The response when the breaker rejects the call (circuit open, probes busy, concurrency limit,
   * store unavailable under `fail-closed`): the same `(error, context)` signature as the breaker's
   * `fallback` option, with the Middy `request` in the context. Returned early: the handler and
   * every `after` hook are skipped. Without it, the middleware answers as the event source needs
   * (see {@link rejectionResponse}). Errors the handler throws are left to the `onError`
   * middlewares (`@middy/http-error-handler`), never replaced.
   */
  readonly fallback?: Fallback<TResult, MiddyFallbackContext<TEvent, TResult>>
  /**
   * Which of the handler's responses count as failures: the breaker's option of the same name,
   * typed by the handler's result. Default {@link isServerErrorResponse}: a `statusCode` of 500 or
   * more.
   */
  readonly isFailureResult?: (result: TResult) => boolean
  /** Renamed `isFailureResult`, the name the breaker uses for the same thing. */
  readonly isFailureResponse?: never
  /**
   * For HTTP events (API Gateway, function URLs, ALB) rejected without a `fallback`: throw Middy's
   * HTTP error (`@middy/util`'s `createError(503)`, `expose: true`, `Retry-After` in its
   * `headers`, the breaker's error as `cause`) instead of returning the 503 response, so that
   * `@middy/http-error-handler`, and every `onError` middleware, shape it like the API's other
   * errors. Set it when the chain has `@middy/http-error-handler`: a middleware cannot see which
   * middlewares follow it, and without a handler Middy would rethrow the error to Lambda.
   * Default `false`: the middleware returns the 503 response itself (same status, `Retry-After`
   * and body as http-error-handler makes of the error with its defaults).
   */
  readonly throwHttpError?: boolean
  /**
   * How long before the invocation's end (`context.getRemainingTimeInMillis()`) a call still
   * running, or a response body still streaming, is recorded as a failure, so that its outcome
   * (and a probe's lease) reaches the store before Lambda stops the environment. Default: the
   * breaker's `deadlineMarginMs` (500). Keep it above Middy's `timeoutEarlyInMillis` (5 by
   * default) so the breaker records the call before Middy ends it, and long enough for a store write.
   */
  readonly deadlineMarginMs?: number
}

/**
 * The middleware's default `isFailureResult`: a Lambda response (API Gateway, function URL, ALB)
 * with a `statusCode` of 500 or more.
 *
 * @example
 * ```ts
 * isServerErrorResponse({ statusCode: 502, body: '' }) // true
 * isServerErrorResponse({ statusCode: 404, body: '' }) // false
 * ```
 */
export function isServerErrorResponse(response: unknown): boolean {
  const statusCode = typeof response === 'object' && response !== null ? Reflect.get(response, 'statusCode') : undefined
  return typeof statusCode === 'number' && statusCode >= 500
}

/** How long a permit may stay unsettled: the longest Lambda invocation, plus a margin. */
const LONGEST_INVOCATION_MS = 15 * 60_000 + 1_000

/** Every key the middleware puts in `request.internal` starts with this. */
const INTERNAL_KEY_PREFIX = 'fleet-breaker:'

/**
 * What the middleware keeps under its own key in `request.internal` while a call it admitted is in
 * progress. `request` and `settleLeftover` are all that {@link settleCircuitBreakerPermits} relies
 * on, so it settles the permits of any copy of this package (a bundle next to a layer, say).
 */
interface HeldPermit {
  /**
   * The request the permit was taken for. Middy 5 and 6 share one `internal` object between
   * requests when the plugin's `internal` option is set; a permit belongs to its own request only.
   */
  readonly request: object
  /**
   * Settles a permit whose `after` and `onError` hooks will not run: records the error the call
   * threw, if it threw, and otherwise gives the permit back. Does nothing the second time, and
   * never throws.
   */
  settleLeftover(): Promise<void>
}

/** Per-invocation state of one middleware. */
interface Held extends HeldPermit {
  readonly request: MiddyRequest<unknown, unknown>
  /** The key of the middleware that holds it. */
  readonly key: string
  readonly permit: CallPermit
  /** What was put on `request.error` since admission (see `error-watch.ts`). */
  readonly errors: ErrorWatch
  /** After this, the invocation cannot still be running. */
  readonly abandonAfter: number
  /** Fires at the invocation's deadline less the margin; cleared once the permit is settled. */
  deadline: ReturnType<typeof setTimeout> | undefined
  /** The watch on a streamed response's body, from the `after` hook on: the body settles the permit. */
  body: BodyWatch | undefined
}

/**
 * Records the error a call threw as the breaker classifies it, except Middy's own early timeout
 * (`timeoutEarlyInMillis`), which always counts: the downstream was too slow to answer in time.
 */
function recordThrown(permit: CallPermit, error: unknown): Promise<unknown> {
  return isMiddyTimeoutError(error) ? permit.recordFailure() : permit.recordError(error)
}

/**
 * Whether the handler of a request whose permit is not settled yet has stopped running: it returned
 * (Middy puts what it returned on `request.response`), it threw (`request.error`), or another
 * middleware ended the chain. A handler that returned `undefined` looks like one still running until
 * the `after` hooks are done; with the breaker registered last, its own `after` runs first.
 */
function handlerFinished(request: MiddyRequest<unknown, unknown>, errors: ErrorWatch): boolean {
  return (
    endedEarly(request) || request.response !== undefined || errors.thrown !== undefined || request.error !== undefined
  )
}

function isHeldPermit(value: unknown): value is HeldPermit {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'settleLeftover') === 'function'
}

/**
 * Whether the chain of `request` ended with an early response (Middy 6 and later set
 * `request.earlyResponse` whenever a `before`, `after` or `onError` hook returns a value, or sets
 * it). Middy then stops the stack that hook was in, returns, and never runs another hook for the
 * request: an unsettled permit of that request will not be settled by its own hooks.
 */
function endedEarly(request: object): boolean {
  return Object.hasOwn(request, 'earlyResponse')
}

/**
 * Permits not yet settled, per breaker: every middleware on the same breaker (two handlers in
 * one bundle, say) sweeps them, so a skipped hook never keeps a concurrency slot for long.
 */
const outstandingByBreaker = new WeakMap<CircuitBreaker<unknown>, Set<Held>>()

function outstandingOf(breaker: CircuitBreaker<unknown>): Set<Held> {
  let outstanding = outstandingByBreaker.get(breaker)
  if (outstanding === undefined) {
    outstanding = new Set()
    outstandingByBreaker.set(breaker, outstanding)
  }
  return outstanding
}

function resolveBreaker(breaker: unknown): CircuitBreaker<unknown> {
  if (breaker instanceof CircuitBreaker) return breaker
  if (typeof breaker === 'object' && breaker !== null && typeof Reflect.get(breaker, 'admit') === 'function') {
    // A breaker from another copy of @fleet-breaker/core (a bundle next to a layer, say).
    return breaker as CircuitBreaker<unknown>
  }
  if (typeof breaker === 'object' && breaker !== null && 'store' in breaker) {
    // Options the middleware would never use: refused rather than silently ignored.
    for (const key of ['fallback', 'isFailureResult'] as const) {
      const value: unknown = Reflect.get(breaker, key)
      if (value !== undefined) {
        throw new InvalidConfigurationError(
          `breaker.${key}`,
          value,
          `nothing here: the middleware records the handler's response itself, so pass ${key} to circuitBreaker() beside breaker`,
        )
      }
    }
    return new CircuitBreaker(breaker as CircuitBreakerOptions<never>)
  }
  throw new InvalidConfigurationError('breaker', breaker, 'a CircuitBreaker, or CircuitBreakerOptions to create one')
}

/**
 * Settles every permit the `circuitBreaker()` middlewares still hold for a request: with the error
 * the call threw, if it threw, and otherwise by giving the permit back (not counted). A permit
 * whose `after` or `onError` hook ran is already settled and is left alone, so calling this once
 * the chain is over is always safe; so is the permit of a streamed response, which its body
 * settles (Middy 5 runs `requestEnd` before the body is sent).
 *
 * Pass it as Middy's `requestEnd` plugin hook, which runs once the chain is over whatever it did
 * (Middy 5 and 7 on every path, Middy 6 unless the chain throws), or call it from a middleware of
 * your own that ends the chain early. The middleware needs neither on Middy 6 and later, where it
 * sees an early response itself; on Middy 5 it is what gives the slot back at once when a
 * middleware registered after the breaker returns early from `before`.
 *
 * @example
 * ```ts
 * import middy from '@middy/core'
 * import warmup from '@middy/warmup'
 * import { circuitBreaker, settleCircuitBreakerPermits } from '@fleet-breaker/middy'
 *
 * export const handler = middy(getQuote, { requestEnd: settleCircuitBreakerPermits })
 *   .use(circuitBreaker({ breaker }))
 *   .use(warmup())
 * ```
 */
export async function settleCircuitBreakerPermits(request: {
  readonly internal: Record<string, unknown>
}): Promise<void> {
  const { internal } = request
  if (typeof internal !== 'object' || internal === null) return
  const held = Object.keys(internal)
    .filter((key) => key.startsWith(INTERNAL_KEY_PREFIX))
    .map((key) => internal[key])
    .filter((value): value is HeldPermit => isHeldPermit(value) && value.request === request)
  // The last admitted first, as the hooks would have run.
  for (const permit of held.reverse()) await permit.settleLeftover()
}

let instances = 0

/**
 * A Middy middleware that puts a handler behind a circuit breaker shared by the whole fleet.
 *
 * - `before` asks the breaker. When the call is rejected it ends the chain early with the
 *   `fallback` response or, without one, with what the event source needs: 503 and `Retry-After`
 *   for API Gateway, function URLs and ALB; every record as a batch item failure for SQS; for
 *   other events it throws the `CircuitOpenError`, so Lambda's retries keep the event. An early
 *   return skips the handler and every `after` hook.
 * - `after` records the response: a failure when `isFailureResult` says so. A streamed response
 *   (Middy's streaming mode: a Node.js `Readable` or web `ReadableStream`, itself or as the `body`)
 *   is recorded when its body ends (a success), fails (its error, classified) or is given up
 *   (not counted), since Middy sends the body only after the `after` hooks.
 * - `onError` records the error the call threw as the breaker classifies it (a 4xx is not
 *   counted; Middy's own early timeout always is), even when a middleware whose `onError` ran
 *   first (`@middy/http-error-handler` registered after it) has already replaced `request.error`.
 *   It never replaces the error: the error, or the response another middleware made of it,
 *   reaches the caller.
 * - At the invocation's deadline less `deadlineMarginMs` (from `context.getRemainingTimeInMillis()`),
 *   a call still running, or a body still streaming, is recorded as a failure, before Lambda
 *   stops the environment; its later outcome is ignored.
 * - Every admitted permit is settled once: by `after` or `onError`, or, when another middleware
 *   ended the chain before those ran, as soon as the breaker is next used (Middy 6 and later mark
 *   such a chain with `request.earlyResponse`), by {@link settleCircuitBreakerPermits} when it is
 *   the `requestEnd` hook, or at the latest once the invocation's deadline has passed.
 *
 * Register it last, after validators, authorisers and parameter loaders, so that it runs right
 * before the handler: their errors then happen before the call is admitted and are never recorded,
 * and its `after` runs first, before any other middleware can end the chain.
 *
 * @example
 * ```ts
 * import middy from '@middy/core'
 * import httpErrorHandler from '@middy/http-error-handler'
 * import { circuitBreaker } from '@fleet-breaker/middy'
 *
 * export const handler = middy(getQuote)
 *   .use(httpErrorHandler())
 *   .use(circuitBreaker({ breaker, fallback: () => ({ statusCode: 200, body: '{"quote":null}' }) }))
 * ```
 */
export function circuitBreaker<TEvent = unknown, TResult = unknown>(
  options: CircuitBreakerMiddlewareOptions<TEvent, TResult>,
): MiddyMiddleware<TEvent, TResult> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidConfigurationError('options', options, 'an object with a breaker')
  }
  const {
    fallback,
    isFailureResult = isServerErrorResponse,
    deadlineMarginMs: marginOption,
    throwHttpError = false,
  } = options
  if (typeof throwHttpError !== 'boolean') {
    throw new InvalidConfigurationError('throwHttpError', throwHttpError, 'true or false')
  }
  const renamed: unknown = Reflect.get(options, 'isFailureResponse')
  if (renamed !== undefined) {
    throw new InvalidConfigurationError('isFailureResponse', renamed, 'nothing: the option is now isFailureResult')
  }
  if (fallback !== undefined && typeof fallback !== 'function') {
    throw new InvalidConfigurationError('fallback', fallback, 'a function')
  }
  if (typeof isFailureResult !== 'function') {
    throw new InvalidConfigurationError('isFailureResult', isFailureResult, 'a function')
  }
  if (
    marginOption !== undefined &&
    (typeof marginOption !== 'number' || !Number.isFinite(marginOption) || marginOption < 0)
  ) {
    throw new InvalidConfigurationError('deadlineMarginMs', marginOption, 'a number of milliseconds, 0 or more')
  }
  const breaker = resolveBreaker(options.breaker)
  const { logger } = breaker.options
  const deadlineMarginMs = marginOption ?? breaker.options.deadlineMarginMs
  // Namespaced per middleware instance: two breakers on one handler never share a key.
  const internalKey = `${INTERNAL_KEY_PREFIX}${breaker.circuitId}#${++instances}`
  const outstanding = outstandingOf(breaker)
  // Observers that send asynchronously (an EventBridge publisher): flushed before the invocation ends.
  const flushable = (breaker.options.observers ?? []).filter((observer) => typeof observer.flush === 'function')
  const endOfInvocation = (request: MiddyRequest<TEvent, TResult>) => {
    if (flushable.length === 0) return undefined
    // Never past the invocation's deadline, less the margin: the response matters more than the events.
    const remaining = remainingTimeOf(request.context)
    return flushObservers(
      flushable,
      logger,
      remaining === undefined ? {} : { timeoutMs: Math.max(0, remaining - deadlineMarginMs) },
    )
  }

  /** Marks a permit as settled; false if it already was. The only way out of `outstanding`. */
  const forget = (held: Held): boolean => {
    if (!outstanding.delete(held)) return false
    if (held.request.internal[internalKey] === held) delete held.request.internal[internalKey]
    held.errors.stop()
    if (held.deadline !== undefined) clearTimeout(held.deadline)
    held.deadline = undefined
    held.body?.stop()
    return true
  }

  /** Settles a permit where nothing is left to tell of a failure to: a store error is logged. */
  const settleQuietly = async (
    held: Held,
    settle: (permit: CallPermit) => Promise<unknown>,
    when: string,
  ): Promise<void> => {
    try {
      await settle(held.permit)
    } catch (error) {
      logger.error(`fleet-breaker: could not settle a permit ${when}`, { circuitId: breaker.circuitId, error })
    }
  }

  /**
   * At the invocation's deadline, less the margin, for a permit not settled yet:
   * - a handler still running, or a body still being streamed, is the downstream being too slow:
   *   recorded as a failure now, before Lambda stops the environment (its later outcome is ignored);
   * - a handler that has finished while its `after` or `onError` hook did not settle the permit
   *   (another middleware ended the chain) is settled as for a skipped hook;
   * - a streamed body nobody has started to read was never sent: given back, not counted.
   */
  const expire = async (held: Held): Promise<void> => {
    if (!outstanding.has(held)) return
    const { body } = held
    if (body === undefined && handlerFinished(held.request, held.errors)) return held.settleLeftover()
    const failed = body === undefined || body.started
    if (!forget(held)) return
    if (!failed) return settleQuietly(held, (permit) => permit.release(), 'whose body was never read')
    logger.warn(
      body === undefined
        ? "fleet-breaker: the call was still running at the invocation's deadline; counted as a failure"
        : "fleet-breaker: the response was still streaming at the invocation's deadline; counted as a failure",
      { circuitId: breaker.circuitId, deadlineMarginMs },
    )
    return settleQuietly(held, (permit) => permit.recordFailure(), "at the invocation's deadline")
  }

  /** Arms the deadline timer of a permit, when the context tells the invocation's deadline. */
  const armDeadline = (held: Held, remaining: number | undefined): void => {
    if (remaining === undefined) return
    const delay = Math.ceil(remaining - deadlineMarginMs)
    // No time left before the margin: the invocation's end, not the downstream, would stop the call.
    if (delay < 1 || delay > LONGEST_TIMER_MS) return
    // Not unreferenced: while the call runs it must fire, whatever else keeps the process alive.
    // Nothing may reject from a timer (a logger that throws, say): it would end the process.
    held.deadline = setTimeout(() => void expire(held).catch(() => undefined), delay)
  }

  const hold = (request: MiddyRequest<TEvent, TResult>, permit: CallPermit): void => {
    const remaining = remainingTimeOf(request.context)
    const held: Held = {
      request,
      key: internalKey,
      permit,
      errors: watchError(request),
      abandonAfter: breaker.options.now() + (remaining ?? LONGEST_INVOCATION_MS) + 1_000,
      deadline: undefined,
      body: undefined,
      settleLeftover: async () => {
        // A streamed body settles its permit itself, when it finishes (or at the deadline).
        if (held.body !== undefined || !forget(held)) return
        const { thrown } = held.errors
        await settleQuietly(
          held,
          (settled) => (thrown === undefined ? settled.release() : recordThrown(settled, thrown.error)),
          'whose hooks were skipped',
        )
      },
    }
    request.internal[internalKey] = held
    outstanding.add(held)
    armDeadline(held, remaining)
  }

  /** This request's permit while it is not settled; `undefined` if it has none or it was settled. */
  const find = (request: MiddyRequest<TEvent, TResult>): Held | undefined => {
    let held = request.internal[internalKey] as Held | undefined
    if (held !== undefined && held.request !== request) {
      // `internal` shared between concurrent requests (see HeldPermit.request): another request
      // took the key since, so look for this request's permit among those not yet settled.
      held = [...outstanding].find((candidate) => candidate.request === request && candidate.key === internalKey)
    }
    return held !== undefined && outstanding.has(held) ? held : undefined
  }

  /** This request's permit, now the caller's to settle; `undefined` if it has none or it was settled. */
  const take = (request: MiddyRequest<TEvent, TResult>): Held | undefined => {
    const held = find(request)
    return held !== undefined && forget(held) ? held : undefined
  }

  /**
   * Settles the permits of invocations whose own hooks will not settle them (another middleware
   * skipped `after` or `onError`), before they can keep a concurrency slot from the next call:
   * - a chain that ended with an early response (Middy 6 and later): over, whatever the host;
   * - an invocation past its deadline: Lambda has stopped it (settled as its deadline timer would).
   * A permit is never given back merely because a newer invocation started: one execution
   * environment runs invocations concurrently on Lambda Managed Instances and off Lambda, and a
   * permit still in use must not lose its outcome or let one call too many through.
   */
  const settleFinished = async (): Promise<void> => {
    if (outstanding.size === 0) return
    const now = breaker.options.now()
    const finished = [...outstanding].filter((held) => endedEarly(held.request) || held.abandonAfter < now)
    for (const held of finished) await (held.abandonAfter < now ? expire(held) : held.settleLeftover())
  }

  const circuitBreakerMiddlewareBefore = async (
    request: MiddyRequest<TEvent, TResult>,
  ): Promise<TResult | undefined> => {
    await settleFinished()
    const admission = await breaker.admit()
    if (admission.admitted) {
      hold(request, admission.permit)
      return undefined
    }
    // The chain ends here, before the call: the breakers registered before this one will not
    // reach their `after` hooks, so their permits go back now (the downstream was never called).
    await settleCircuitBreakerPermits(request)
    if (fallback === undefined && throwHttpError && isHttpEvent(request.event)) {
      // No permit is held for this request, so the middleware's own onError records nothing.
      throw await unavailableHttpError(admission.error)
    }
    const response =
      fallback === undefined
        ? (rejectionResponse(request.event, admission.error) as TResult | undefined)
        : await fallback(admission.error, { circuitId: breaker.circuitId, kind: 'rejected', request })
    if (fallback === undefined && response === undefined) throw admission.error
    // Set as well as returned: Middy 6 and later then end the chain even on an `undefined` fallback.
    request.earlyResponse = response
    await endOfInvocation(request)
    // The Powertools middlewares before this one will not reach their own hooks: they clean up now.
    await cleanupPowertoolsMiddlewares(request, (error) =>
      logger.error('fleet-breaker: a Powertools middleware failed to clean up', {
        circuitId: breaker.circuitId,
        error,
      }),
    )
    return response
  }

  /** Settles a permit with how its streamed body finished (the `after` hook found it healthy). */
  const settleStreamed = async (held: Held, outcome: BodyOutcome): Promise<void> => {
    if (!forget(held)) return
    const when = 'once its response was streamed'
    switch (outcome.kind) {
      case 'ended':
        return settleQuietly(held, (permit) => permit.recordSuccess(), when)
      case 'failed':
        return settleQuietly(held, (permit) => recordThrown(permit, outcome.error), when)
      case 'abandoned':
        return settleQuietly(held, (permit) => permit.release(), when)
    }
  }

  /**
   * Hands the permit over to the response's body when the response is streamed: Middy sends the
   * body after every `after` hook has run, so only the body can tell how the call ended. Returns
   * whether it did.
   */
  const watchBody = (held: Held, request: MiddyRequest<TEvent, TResult>): boolean => {
    // Nothing may reject from a stream's event (a logger that throws, say): it would end the process.
    const streamed = watchStreamedResponse(
      request.response,
      (outcome) => void settleStreamed(held, outcome).catch(() => undefined),
    )
    if (streamed === undefined) return false
    // The call has returned: errors from here on are other middlewares', never recorded.
    held.errors.stop()
    // (A body that had already finished has settled the permit already.)
    if (outstanding.has(held)) held.body = streamed.watch
    request.response = streamed.response as TResult
    return true
  }

  /** Records the response, or hands the permit to its body when it is streamed. */
  const recordResponse = async (held: Held, request: MiddyRequest<TEvent, TResult>): Promise<void> => {
    let failed = false
    try {
      failed = isFailureResult(request.response as TResult) === true
    } catch (error) {
      logger.error('fleet-breaker: isFailureResult threw; the response is not counted', {
        circuitId: breaker.circuitId,
        error,
      })
      if (forget(held)) await held.permit.release()
      return
    }
    // A failure response (a streamed 503, say) is one whatever its body does.
    if (!failed && watchBody(held, request)) return
    if (!forget(held)) return
    await (failed ? held.permit.recordFailure() : held.permit.recordSuccess())
  }

  const circuitBreakerMiddlewareAfter = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    const held = find(request)
    if (held !== undefined && held.body === undefined) await recordResponse(held, request)
    await settleFinished()
    await endOfInvocation(request)
    return undefined
  }

  const circuitBreakerMiddlewareOnError = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    // No permit: the error came before the call was admitted (another middleware, or the
    // rejection itself), or after the outcome was recorded. Either way it is not the downstream's.
    const held = take(request)
    if (held?.body !== undefined) {
      // A middleware's `after` hook threw once the handler had returned a streamed response:
      // Middy will not send that body, and the error is not the downstream's.
      await held.permit.release()
    } else if (held !== undefined) {
      // The error the call threw, not what a middleware whose onError ran first made of it.
      const { thrown } = held.errors
      await recordThrown(held.permit, thrown === undefined ? request.error : thrown.error)
    }
    await settleFinished()
    await endOfInvocation(request)
    return undefined
  }

  return {
    before: circuitBreakerMiddlewareBefore,
    after: circuitBreakerMiddlewareAfter,
    onError: circuitBreakerMiddlewareOnError,
  }
}
