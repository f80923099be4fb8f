import {
  type CallPermit,
  CircuitBreaker,
  type CircuitBreakerError,
  type CircuitBreakerOptions,
  InvalidConfigurationError,
} from '@fleet-breaker/core'
import { type ErrorWatch, watchError } from './error-watch.js'
import { rejectionResponse } from './event-sources.js'
import type { MiddyMiddleware, MiddyRequest } from './middy-types.js'

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
  readonly breaker: CircuitBreaker<unknown> | CircuitBreakerOptions<unknown>
  /**
   * The response when the breaker rejects the call (circuit open, probes busy, concurrency limit,
   * store unavailable under `fail-closed`). Returned early: the handler and every `after` hook are
   * skipped. Without it, the middleware answers as the event source needs (see
   * {@link rejectionResponse}). The breaker's own `fallback` option does not apply here.
   */
  readonly fallback?: (error: CircuitBreakerError, request: MiddyRequest<TEvent, TResult>) => TResult | Promise<TResult>
  /** Whether a response counts as a failure. Default: a `statusCode` of 500 or more. */
  readonly isFailureResponse?: (response: TResult) => boolean
}

/** The default failure predicate for responses: a `statusCode` of 500 or more. */
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
    return new CircuitBreaker(breaker as CircuitBreakerOptions<unknown>)
  }
  throw new InvalidConfigurationError('breaker', breaker, 'a CircuitBreaker, or CircuitBreakerOptions to create one')
}

/**
 * Settles every permit the `circuitBreaker()` middlewares still hold for a request: with the error
 * the call threw, if it threw, and otherwise by giving the permit back (not counted). A permit
 * whose `after` or `onError` hook ran is already settled and is left alone, so calling this once
 * the chain is over is always safe.
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
 * - `after` records the response: a failure when `isFailureResponse` says so.
 * - `onError` records the error the call threw as the breaker classifies it (a 4xx is not
 *   counted), even when a middleware whose `onError` ran first (`@middy/http-error-handler`
 *   registered after it) has already replaced `request.error`. It never replaces the error: the
 *   error, or the response another middleware made of it, reaches the caller.
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
  const { fallback, isFailureResponse = isServerErrorResponse } = options
  if (fallback !== undefined && typeof fallback !== 'function') {
    throw new InvalidConfigurationError('fallback', fallback, 'a function')
  }
  if (typeof isFailureResponse !== 'function') {
    throw new InvalidConfigurationError('isFailureResponse', isFailureResponse, 'a function')
  }
  const breaker = resolveBreaker(options.breaker)
  const { logger } = breaker.options
  // Namespaced per middleware instance: two breakers on one handler never share a key.
  const internalKey = `${INTERNAL_KEY_PREFIX}${breaker.circuitId}#${++instances}`
  const outstanding = outstandingOf(breaker)

  /** Marks a permit as settled; false if it already was. The only way out of `outstanding`. */
  const forget = (held: Held): boolean => {
    if (!outstanding.delete(held)) return false
    if (held.request.internal[internalKey] === held) delete held.request.internal[internalKey]
    held.errors.stop()
    return true
  }

  const hold = (request: MiddyRequest<TEvent, TResult>, permit: CallPermit): void => {
    const remaining = request.context?.getRemainingTimeInMillis?.() ?? LONGEST_INVOCATION_MS
    const held: Held = {
      request,
      key: internalKey,
      permit,
      errors: watchError(request),
      abandonAfter: breaker.options.now() + remaining + 1_000,
      settleLeftover: async () => {
        if (!forget(held)) return
        const { thrown } = held.errors
        try {
          await (thrown === undefined ? permit.release() : permit.recordError(thrown.error))
        } catch (error) {
          logger.error('fleet-breaker: could not settle a permit whose hooks were skipped', {
            circuitId: breaker.circuitId,
            error,
          })
        }
      },
    }
    request.internal[internalKey] = held
    outstanding.add(held)
  }

  /** This request's permit, now the caller's to settle; `undefined` if it has none or it was settled. */
  const take = (request: MiddyRequest<TEvent, TResult>): Held | undefined => {
    let held = request.internal[internalKey] as Held | undefined
    if (held !== undefined && held.request !== request) {
      // `internal` shared between concurrent requests (see HeldPermit.request): another request
      // took the key since, so look for this request's permit among those not yet settled.
      held = [...outstanding].find((candidate) => candidate.request === request && candidate.key === internalKey)
    }
    return held !== undefined && forget(held) ? held : undefined
  }

  /**
   * Settles the permits of invocations whose own hooks will not settle them (another middleware
   * skipped `after` or `onError`), before they can keep a concurrency slot from the next call:
   * - a chain that ended with an early response (Middy 6 and later): over, whatever the host;
   * - an invocation past its deadline: Lambda has stopped it.
   * A permit is never given back merely because a newer invocation started: one execution
   * environment runs invocations concurrently on Lambda Managed Instances and off Lambda, and a
   * permit still in use must not lose its outcome or let one call too many through.
   */
  const settleFinished = async (): Promise<void> => {
    if (outstanding.size === 0) return
    const now = breaker.options.now()
    const finished = [...outstanding].filter((held) => endedEarly(held.request) || held.abandonAfter < now)
    for (const held of finished) await held.settleLeftover()
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
    const response =
      fallback === undefined
        ? (rejectionResponse(request.event, admission.error) as TResult | undefined)
        : await fallback(admission.error, request)
    if (fallback === undefined && response === undefined) throw admission.error
    // Set as well as returned: Middy 6 and later then end the chain even on an `undefined` fallback.
    request.earlyResponse = response
    return response
  }

  const recordResponse = async (held: Held, response: TResult): Promise<void> => {
    let failed = false
    try {
      failed = isFailureResponse(response) === true
    } catch (error) {
      logger.error('fleet-breaker: isFailureResponse threw; the response is not counted', {
        circuitId: breaker.circuitId,
        error,
      })
      await held.permit.release()
      return
    }
    await (failed ? held.permit.recordFailure() : held.permit.recordSuccess())
  }

  const circuitBreakerMiddlewareAfter = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    const held = take(request)
    if (held !== undefined) await recordResponse(held, request.response as TResult)
    await settleFinished()
    return undefined
  }

  const circuitBreakerMiddlewareOnError = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    // No permit: the error came before the call was admitted (another middleware, or the
    // rejection itself), or after the outcome was recorded. Either way it is not the downstream's.
    const held = take(request)
    if (held !== undefined) {
      // The error the call threw, not what a middleware whose onError ran first made of it.
      const { thrown } = held.errors
      await held.permit.recordError(thrown === undefined ? request.error : thrown.error)
    }
    await settleFinished()
    return undefined
  }

  return {
    before: circuitBreakerMiddlewareBefore,
    after: circuitBreakerMiddlewareAfter,
    onError: circuitBreakerMiddlewareOnError,
  }
}
