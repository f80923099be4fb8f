import { InvalidConfigurationError } from '../errors.js'
import { DEFAULT_LIST_LIMIT, type ListRequest, MAX_LIST_LIMIT } from './contract.js'

/*
 * What every store's `list` shares: the checks on a request and the encoding of cursors. A cursor
 * is opaque to callers; each store puts its own position in it (the last circuit id, DynamoDB's
 * LastEvaluatedKey, a Redis node and SCAN cursor) as JSON in base64url, so it survives a shell or
 * a URL unchanged.
 */

/**
 * The page size a {@link ListRequest} asks for, checked: a whole number from 1 to
 * {@link MAX_LIST_LIMIT} (default {@link DEFAULT_LIST_LIMIT}).
 *
 * @example
 * ```ts
 * listLimit({ limit: 50 }) // 50
 * listLimit({ limit: 0 }) // throws InvalidConfigurationError naming limit
 * ```
 */
export function listLimit(request: ListRequest): number {
  const limit = request.limit ?? DEFAULT_LIST_LIMIT
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new InvalidConfigurationError('limit', limit, `an integer from 1 to ${MAX_LIST_LIMIT}`)
  }
  return limit
}

/**
 * A store's position as a cursor.
 *
 * @example
 * ```ts
 * const cursor = encodeListCursor({ after: 'payment-api' })
 * ```
 */
export function encodeListCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url')
}

/**
 * The position a cursor holds, if `isPosition` accepts it; otherwise an `InvalidConfigurationError`
 * naming `cursor` (a cursor from another store, or mangled on its way).
 *
 * @example
 * ```ts
 * const position = decodeListCursor(request.cursor, (value): value is { after: string } => typeof value === 'object')
 * ```
 */
export function decodeListCursor<T>(
  cursor: string | undefined,
  isPosition: (value: unknown) => value is T,
): T | undefined {
  if (cursor === undefined) return undefined
  let value: unknown
  try {
    if (typeof cursor !== 'string' || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url')
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    value = undefined
  }
  if (value === undefined || !isPosition(value)) {
    throw new InvalidConfigurationError('cursor', cursor, 'the cursor of a previous page of this store')
  }
  return value
}

/** Whether `value` is a plain object (a parsed cursor position). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
