/*
 * The few Middy shapes the middleware needs, declared here so that `@middy/core` stays an optional
 * peer dependency. They are the parts every Middy major from 5 on agrees on; the tests check them
 * against real `@middy/core` chains.
 */

/** The part of the Lambda context the middleware reads. */
export interface LambdaContextLike {
  getRemainingTimeInMillis?: () => number
  /** The Lambda context inside a durable execution context (Middy 7 reads the deadline here too). */
  lambdaContext?: { getRemainingTimeInMillis?: () => number }
}

/** A Middy request: what a middleware's hooks receive. */
export interface MiddyRequest<TEvent = unknown, TResult = unknown> {
  event: TEvent
  context: LambdaContextLike
  response: TResult | null | undefined
  error: unknown
  internal: Record<string, unknown>
  earlyResponse?: TResult | undefined
}

/** A hook; a value returned from `before` ends the chain early with that response. */
export type MiddyHook<TEvent, TResult> = (request: MiddyRequest<TEvent, TResult>) => Promise<TResult | undefined>

/** What `.use()` takes. */
export interface MiddyMiddleware<TEvent, TResult> {
  before: MiddyHook<TEvent, TResult>
  after: MiddyHook<TEvent, TResult>
  onError: MiddyHook<TEvent, TResult>
}
