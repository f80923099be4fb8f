import { type CircuitBreakerError, isCircuitOpenError } from '@fleet-breaker/core'

/** The event sources the middleware answers for itself when the circuit rejects a call. */
export const EventSource = {
  /** API Gateway REST APIs (payload 1.0). */
  API_GATEWAY_REST: 'api-gateway-rest',
  /** API Gateway HTTP APIs and Lambda function URLs (payload 2.0). */
  API_GATEWAY_HTTP: 'api-gateway-http',
  /** Application Load Balancer targets. */
  ALB: 'alb',
  /** SQS batches. */
  SQS: 'sqs',
  /** Anything else: asynchronous invocations, streams, schedules, direct calls. */
  OTHER: 'other',
} as const
export type EventSource = (typeof EventSource)[keyof typeof EventSource]

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined
}

/**
 * Tells the event source from the event's shape.
 *
 * @example
 * ```ts
 * eventSourceOf({ Records: [{ eventSource: 'aws:sqs', messageId: '1' }] }) // 'sqs'
 * ```
 */
export function eventSourceOf(event: unknown): EventSource {
  const requestContext = field(event, 'requestContext')
  if (field(requestContext, 'elb') !== undefined) return EventSource.ALB
  if (field(event, 'version') === '2.0' && field(requestContext, 'http') !== undefined)
    return EventSource.API_GATEWAY_HTTP
  if (typeof field(event, 'httpMethod') === 'string' && requestContext !== undefined)
    return EventSource.API_GATEWAY_REST
  const records = field(event, 'Records')
  if (
    Array.isArray(records) &&
    records.length > 0 &&
    records.every((record) => field(record, 'eventSource') === 'aws:sqs')
  ) {
    return EventSource.SQS
  }
  return EventSource.OTHER
}

/**
 * Whole seconds until a retry makes sense, at least 1: from the shared retry time of a
 * `CircuitOpenError`, 1 for any other error (a fallback's `error` is typed `unknown`).
 *
 * @example
 * ```ts
 * fallback: (error) => ({ statusCode: 200, headers: { 'Retry-After': String(retryAfterSeconds(error)) }, body: '{}' })
 * ```
 */
export function retryAfterSeconds(error: unknown): number {
  const milliseconds = isCircuitOpenError(error) ? error.retryAfterMs : 1_000
  return Math.max(1, Math.ceil(milliseconds / 1_000))
}

/** Whether the event comes from an HTTP source (API Gateway, function URL, ALB). */
export function isHttpEvent(event: unknown): boolean {
  const source = eventSourceOf(event)
  return (
    source === EventSource.API_GATEWAY_REST || source === EventSource.API_GATEWAY_HTTP || source === EventSource.ALB
  )
}

/** The parts of the open-circuit answer both of its forms share. */
function unavailableParts(error: unknown) {
  const seconds = retryAfterSeconds(error)
  return {
    statusCode: 503,
    headers: { 'Retry-After': String(seconds) },
    body: JSON.stringify({ message: 'Service temporarily unavailable', retryAfterSeconds: seconds }),
  }
}

/** An HTTP response saying the dependency is unavailable and when to come back. */
function unavailable(error: CircuitBreakerError) {
  const { statusCode, headers, body } = unavailableParts(error)
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body }
}

/**
 * Middy's HTTP error (`@middy/util`'s `HttpError`) as `@middy/http-error-handler` reads it:
 * `statusCode`, `expose`, `message` (the body) and `headers`.
 */
export interface UnavailableHttpError extends Error {
  readonly statusCode: 503
  readonly status: 503
  readonly expose: true
  readonly headers: { readonly 'Retry-After': string }
}

/** `@middy/util`, loaded on the first rejection that needs it (it is ESM only; CommonJS builds import it). */
let middyUtil: Promise<typeof import('@middy/util')> | undefined

/**
 * The open-circuit answer as Middy's own HTTP error, made with `@middy/util`'s `createError`:
 * status 503, `expose: true`, the `Retry-After` header in `headers`, the same JSON body as the
 * response {@link rejectionResponse} returns as its message, and the breaker's error as `cause`.
 * `@middy/http-error-handler` turns it into a response shaped like the API's other errors.
 *
 * @example
 * ```ts
 * const error = await unavailableHttpError(circuitOpenError)
 * // error.statusCode === 503, error.headers['Retry-After'] === '8', error.expose === true
 * ```
 */
export async function unavailableHttpError(error: unknown): Promise<UnavailableHttpError> {
  middyUtil ??= import('@middy/util')
  const { createError } = await middyUtil
  const { statusCode, headers, body } = unavailableParts(error)
  const httpError = createError(statusCode, body, { expose: true, cause: error })
  // Not every major of createError copies extra properties onto the error: set them here.
  httpError.expose = true
  httpError.headers = headers
  return httpError as unknown as UnavailableHttpError
}

/**
 * The response that lets the event source handle a call the circuit rejected, or `undefined`
 * when the error should be thrown instead:
 * - API Gateway (REST and HTTP), function URLs and ALB: 503 with a `Retry-After` header;
 * - SQS: every record reported as a batch item failure, so the messages return to the queue
 *   (the event source mapping must have `ReportBatchItemFailures` enabled);
 * - anything else: `undefined`, so the error is thrown and Lambda's retries, destinations and
 *   dead-letter queues keep the event.
 *
 * @example
 * ```ts
 * rejectionResponse({ version: '2.0', requestContext: { http: {} } }, error) // { statusCode: 503, headers: { 'Retry-After': '8', ... }, body }
 * ```
 */
export function rejectionResponse(event: unknown, error: CircuitBreakerError): unknown {
  switch (eventSourceOf(event)) {
    case EventSource.API_GATEWAY_REST:
    case EventSource.API_GATEWAY_HTTP:
      return unavailable(error)
    case EventSource.ALB:
      return { ...unavailable(error), statusDescription: '503 Service Unavailable', isBase64Encoded: false }
    case EventSource.SQS: {
      const records = field(event, 'Records') as unknown[]
      return { batchItemFailures: records.map((record) => ({ itemIdentifier: String(field(record, 'messageId')) })) }
    }
    case EventSource.OTHER:
      return undefined
  }
}
