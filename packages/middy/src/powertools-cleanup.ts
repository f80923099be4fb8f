import type { MiddyRequest } from './middy-types.js'

/**
 * Powertools for AWS Lambda's middlewares (`logMetrics`, `injectLambdaContext`,
 * `captureLambdaHandler`, `makeHandlerIdempotent`) keep a cleanup function in `request.internal`
 * under keys with this prefix; their `after` and `onError` hooks run it. A middleware that ends the
 * chain early skips those hooks, so it must run the cleanup itself: Powertools' documented way is
 * `cleanupMiddlewares` from `@aws-lambda-powertools/commons`.
 */
const POWERTOOLS_KEY_PREFIX = 'powertools-for-aws.'

/**
 * Lets the Powertools middlewares registered before this one flush their metrics, close their
 * trace segment and clear their log context before the chain ends early. Loads
 * `@aws-lambda-powertools/commons` only when one of them is in the chain (a handler without
 * Powertools pays nothing), and never throws: a failed cleanup is logged, the response stands.
 */
export async function cleanupPowertoolsMiddlewares(
  request: MiddyRequest<unknown, unknown>,
  onError: (error: unknown) => void,
): Promise<void> {
  const { internal } = request
  if (typeof internal !== 'object' || internal === null) return
  if (!Object.keys(internal).some((key) => key.startsWith(POWERTOOLS_KEY_PREFIX))) return
  try {
    const { cleanupMiddlewares } = await import('@aws-lambda-powertools/commons')
    await cleanupMiddlewares(request as unknown as Parameters<typeof cleanupMiddlewares>[0])
  } catch (error) {
    onError(error)
  }
}
