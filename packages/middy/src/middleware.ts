import {
  type CallPermit,
  CircuitBreaker,
  type CircuitBreakerError,
  type CircuitBreakerOptions,
  InvalidConfigurationError,
} from '@fleet-breaker/core'
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

/** Per-request state, kept under the middleware's own key in `request.internal`. */
interface Held {
  readonly permit: CallPermit
  /** After this, the invocation cannot still be running: its permit was abandoned. */
  readonly abandonAfter: number
}

let instances = 0

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
 * A Middy middleware that puts a handler behind a circuit breaker shared by the whole fleet.
 *
 * - `before` asks the breaker. When the call is rejected it ends the chain early with the
 *   `fallback` response or, without one, with what the event source needs: 503 and `Retry-After`
 *   for API Gateway, function URLs and ALB; every record as a batch item failure for SQS; for
 *   other events it throws the `CircuitOpenError`, so Lambda's retries keep the event. An early
 *   return skips the handler and every `after` hook.
 * - `after` records the response: a failure when `isFailureResponse` says so.
 * - `onError` records the error as the breaker classifies it (a 4xx is not counted), and never
 *   replaces it: the error, or the response another middleware made of it, reaches the caller.
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
  // Namespaced per middleware instance: two breakers on one handler never share a key.
  const internalKey = `fleet-breaker:${breaker.circuitId}#${++instances}`
  const outstanding = outstandingOf(breaker)

  /** Settles permits of invocations that cannot still be running (a hook was skipped). */
  const releaseAbandoned = async (now: number): Promise<void> => {
    for (const held of outstanding) {
      if (held.abandonAfter >= now) continue
      outstanding.delete(held)
      await held.permit.release()
    }
  }

  const take = (request: MiddyRequest<TEvent, TResult>): Held | undefined => {
    const held = request.internal[internalKey] as Held | undefined
    if (held === undefined) return undefined
    delete request.internal[internalKey]
    outstanding.delete(held)
    return held
  }

  const circuitBreakerMiddlewareBefore = async (
    request: MiddyRequest<TEvent, TResult>,
  ): Promise<TResult | undefined> => {
    const now = breaker.options.now()
    await releaseAbandoned(now)
    const admission = await breaker.admit()
    if (admission.admitted) {
      const remaining = request.context?.getRemainingTimeInMillis?.() ?? LONGEST_INVOCATION_MS
      const held: Held = { permit: admission.permit, abandonAfter: now + remaining + 1_000 }
      request.internal[internalKey] = held
      outstanding.add(held)
      return undefined
    }
    const response =
      fallback === undefined
        ? (rejectionResponse(request.event, admission.error) as TResult | undefined)
        : await fallback(admission.error, request)
    if (fallback === undefined && response === undefined) throw admission.error
    // Set as well as returned: Middy 6 and later then end the chain even on an `undefined` fallback.
    request.earlyResponse = response
    return response
  }

  const circuitBreakerMiddlewareAfter = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    const held = take(request)
    if (held === undefined) return undefined
    const response = request.response as TResult
    let failed = false
    try {
      failed = isFailureResponse(response) === true
    } catch (error) {
      breaker.options.logger.error('fleet-breaker: isFailureResponse threw; the response is not counted', {
        circuitId: breaker.circuitId,
        error,
      })
      await held.permit.release()
      return undefined
    }
    await (failed ? held.permit.recordFailure() : held.permit.recordSuccess())
    return undefined
  }

  const circuitBreakerMiddlewareOnError = async (request: MiddyRequest<TEvent, TResult>): Promise<undefined> => {
    // No permit: the error came before the call was admitted (another middleware, or the
    // rejection itself), or after the outcome was recorded. Either way it is not the downstream's.
    const held = take(request)
    if (held !== undefined) await held.permit.recordError(request.error)
    return undefined
  }

  return {
    before: circuitBreakerMiddlewareBefore,
    after: circuitBreakerMiddlewareAfter,
    onError: circuitBreakerMiddlewareOnError,
  }
}
