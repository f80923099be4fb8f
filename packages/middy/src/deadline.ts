/*
 * The invocation's deadline, as the middleware sees it through Middy.
 *
 * Middy 5, 6 and 7 all end a handler early by default: `timeoutEarlyInMillis` (default 5) before
 * the end of the invocation they abort the handler's signal and reject with `timeoutEarlyResponse()`,
 * by default an `Error` named `TimeoutError` whose `cause` is `{ package: '@middy/core' }`. Middy 7
 * reads the remaining time from `context.lambdaContext` as well (its durable execution mode).
 */
import type { LambdaContextLike } from './middy-types.js'

/** The longest delay a Node.js timer takes; a longer one would fire at once. */
export const LONGEST_TIMER_MS = 2 ** 31 - 1

/**
 * Milliseconds left in the invocation, from `context.getRemainingTimeInMillis()` (or, as Middy 7
 * does, `context.lambdaContext.getRemainingTimeInMillis()`); `undefined` when the context has
 * neither (tests, containers, direct calls) or it answers with something other than a number.
 *
 * @example
 * ```ts
 * remainingTimeOf({ getRemainingTimeInMillis: () => 2_500 }) // 2500
 * remainingTimeOf({}) // undefined
 * ```
 */
export function remainingTimeOf(context: LambdaContextLike | undefined): number | undefined {
  const source = typeof context?.getRemainingTimeInMillis === 'function' ? context : context?.lambdaContext
  const getRemainingTimeInMillis = source?.getRemainingTimeInMillis
  if (typeof getRemainingTimeInMillis !== 'function') return undefined
  try {
    const remaining = getRemainingTimeInMillis.call(source)
    return Number.isFinite(remaining) ? remaining : undefined
  } catch {
    return undefined
  }
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined
}

/**
 * Whether `error` is the one Middy's default `timeoutEarlyResponse` throws when the handler is still
 * running `timeoutEarlyInMillis` before the invocation's end: the downstream being too slow.
 *
 * @example
 * ```ts
 * isMiddyTimeoutError(Object.assign(new Error('[AbortError]: The operation was aborted.', { cause: { package: '@middy/core' } }), { name: 'TimeoutError' })) // true
 * ```
 */
export function isMiddyTimeoutError(error: unknown): boolean {
  return field(error, 'name') === 'TimeoutError' && field(field(error, 'cause'), 'package') === '@middy/core'
}
