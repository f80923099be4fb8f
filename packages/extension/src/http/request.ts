import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { ApiError, ApiErrorCode } from './errors.js'

/** Most bytes a request body may have; the largest legitimate one (an override's reason) is ~1 kB. */
export const MAX_BODY_BYTES = 4_096

/** The header carrying the shared secret, when `CIRCUIT_BREAKER_EXTENSION_TOKEN` is set. */
export const TOKEN_HEADER = 'x-fleet-breaker-token'

/**
 * The header naming the invocation a request belongs to (the function's Lambda request id), so a
 * permit is tagged exactly; without it, the invocation the extension saw begin last.
 */
export const REQUEST_ID_HEADER = 'lambda-runtime-aws-request-id'

const LOOPBACK_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/

/**
 * Refuses requests that did not come straight from this environment: anything a proxy forwarded,
 * a `Host` other than the loopback (a DNS-rebinding page), or a missing or wrong token.
 */
export function checkOrigin(req: IncomingMessage, token: Buffer | undefined, isHealth: boolean): void {
  if (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined) {
    throw new ApiError(403, ApiErrorCode.FORWARDED_REQUEST, 'forwarded requests are refused: call 127.0.0.1 directly')
  }
  const host = req.headers.host
  if (host !== undefined && !LOOPBACK_HOST.test(host)) {
    throw new ApiError(403, ApiErrorCode.INVALID_HOST, 'the Host header must be 127.0.0.1 or localhost')
  }
  if (token === undefined || isHealth) return
  const given = req.headers[TOKEN_HEADER]
  // Digests of equal length, so neither the comparison's time nor an early length check tells
  // how long the secret is or how much of it a guess got right.
  if (!timingSafeEqual(digest(Buffer.from(typeof given === 'string' ? given : '')), digest(token))) {
    throw new ApiError(401, ApiErrorCode.UNAUTHORIZED, `the ${TOKEN_HEADER} header is missing or wrong`)
  }
}

function digest(value: Buffer): Buffer {
  return createHash('sha256').update(value).digest()
}

/** The invocation the request names, if it names a well-formed one. */
export function invocationOf(req: IncomingMessage): string | undefined {
  const value = req.headers[REQUEST_ID_HEADER]
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined
}

/**
 * Reads a JSON object body of at most {@link MAX_BODY_BYTES} bytes; an empty body is `{}`.
 * A larger body is refused as soon as it is seen to be larger, without reading the rest.
 */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  if (size === 0) return {}
  const type = req.headers['content-type']
  if (type !== undefined && !/^application\/json\s*(?:;|$)/i.test(type)) {
    throw new ApiError(415, ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, 'a request body must be application/json')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new ApiError(400, ApiErrorCode.INVALID_JSON, 'the request body is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, ApiErrorCode.INVALID_BODY, 'the request body must be a JSON object')
  }
  return parsed as Record<string, unknown>
}

function tooLarge(): ApiError {
  return new ApiError(413, ApiErrorCode.BODY_TOO_LARGE, `a request body may have at most ${MAX_BODY_BYTES} bytes`, {
    Connection: 'close',
  })
}
