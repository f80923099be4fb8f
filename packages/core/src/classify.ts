/*
 * Which outcomes say "the downstream is in trouble". Only those may open a circuit: a 404 or a
 * validation error is the caller's problem, and counting it would let one bad request take a
 * healthy dependency out of service for the whole fleet.
 */

/** Socket-level error codes of Node.js and undici that mean the service could not be reached. */
const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
])

/** Error names that mean a timeout, an abort by a deadline, or throttling by the service. */
const SERVICE_FAILURE_NAMES: ReadonlySet<string> = new Set([
  'TimeoutError',
  'CallTimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServerError',
  'InternalFailure',
])

/** How deep to follow `cause` chains (fetch wraps its socket error in a TypeError, for example). */
const MAX_CAUSE_DEPTH = 5

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined
}

function asStatus(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599 ? value : undefined
}

/**
 * The HTTP status an error or response carries, read from `statusCode`, `status`,
 * `$metadata.httpStatusCode` (AWS SDK v3) or `response.status` / `response.statusCode`.
 *
 * @example
 * ```ts
 * httpStatusOf({ $metadata: { httpStatusCode: 503 } }) // 503
 * ```
 */
export function httpStatusOf(value: unknown): number | undefined {
  const response = field(value, 'response')
  return (
    asStatus(field(value, 'statusCode')) ??
    asStatus(field(value, 'status')) ??
    asStatus(field(field(value, '$metadata'), 'httpStatusCode')) ??
    asStatus(field(response, 'status')) ??
    asStatus(field(response, 'statusCode'))
  )
}

/**
 * Whether an HTTP status is the service's fault: any 5xx, 408 (request timeout) or 429 (too many
 * requests).
 *
 * @example
 * ```ts
 * isServiceFailureStatus(503) // true
 * isServiceFailureStatus(404) // false
 * ```
 */
export function isServiceFailureStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429
}

function isServiceFailureAtDepth(error: unknown, depth: number): boolean {
  if (typeof error !== 'object' || error === null || depth > MAX_CAUSE_DEPTH) return false
  const status = httpStatusOf(error)
  const name = field(error, 'name')
  const code = field(error, 'code')
  if (typeof name === 'string' && SERVICE_FAILURE_NAMES.has(name)) return true
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true
  // The AWS SDK v3 marks throttling (which DynamoDB answers with a 400) as retryable throttling.
  if (field(field(error, '$retryable'), 'throttling') === true) return true
  if (field(error, '$fault') === 'server') return true
  if (status !== undefined) return isServiceFailureStatus(status)
  return isServiceFailureAtDepth(field(error, 'cause'), depth + 1)
}

/**
 * The default failure classifier: true for errors that say the downstream service is in trouble,
 * false for everything else, which then reaches the caller without being counted.
 *
 * Counted: timeouts and aborts (`TimeoutError`, `AbortError`, our `CallTimeoutError`); connection
 * errors (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `EAI_AGAIN`, undici socket errors, ...); an
 * HTTP status of 5xx, 408 or 429 read from `statusCode`, `status`, `$metadata.httpStatusCode` or
 * `response.status`; AWS SDK errors with `$fault: 'server'` or marked as throttling. The `cause`
 * chain is followed, so `fetch`'s `TypeError: fetch failed` with an `ECONNREFUSED` cause counts.
 *
 * Not counted: other 4xx statuses, validation errors, and errors that carry no such signal. To
 * count every error instead, pass `isFailure: () => true`.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ circuitId: 'search', isFailure: (error) => isServiceFailure(error) || error instanceof SearchDownError })
 * ```
 */
export function isServiceFailure(error: unknown): boolean {
  return isServiceFailureAtDepth(error, 0)
}

/**
 * The breaker's default `isFailureResult`: true for a `fetch` `Response` (or anything shaped like
 * one, with a numeric `status` and a boolean `ok`) whose status is 5xx, 408 or 429. Other results
 * never count. (The Middy middleware's default `isFailureResult` reads a Lambda response's
 * `statusCode` instead: `isServerErrorResponse` in `@fleet-breaker/middy`.)
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ circuitId: 'search', store, isFailureResult: isServiceFailureResponse })
 * const response = await breaker.execute((signal) => fetch(url, { signal })) // a 503 response counts as a failure
 * ```
 */
export function isServiceFailureResponse(result: unknown): boolean {
  if (typeof field(result, 'ok') !== 'boolean') return false
  const status = asStatus(field(result, 'status'))
  return status !== undefined && isServiceFailureStatus(status)
}
