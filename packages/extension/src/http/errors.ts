/**
 * The `error.code` of every error the HTTP API answers with. They are stable: clients may branch
 * on them.
 */
export const ApiErrorCode = {
  BAD_REQUEST: 'bad-request',
  HEADERS_TOO_LARGE: 'headers-too-large',
  NOT_FOUND: 'not-found',
  METHOD_NOT_ALLOWED: 'method-not-allowed',
  INVALID_CIRCUIT_ID: 'invalid-circuit-id',
  UNKNOWN_PERMIT: 'unknown-permit',
  INVALID_JSON: 'invalid-json',
  INVALID_BODY: 'invalid-body',
  BODY_TOO_LARGE: 'body-too-large',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported-media-type',
  FORWARDED_REQUEST: 'forwarded-request',
  INVALID_HOST: 'invalid-host',
  UNAUTHORIZED: 'unauthorized',
  ADMIN_DISABLED: 'admin-disabled',
  CIRCUIT_LIMIT: 'circuit-limit',
  PERMIT_LIMIT: 'permit-limit',
  SHUTTING_DOWN: 'shutting-down',
  STORE_ERROR: 'store-error',
  INTERNAL_ERROR: 'internal-error',
} as const
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode]

/** An error answered to the client as `{ "error": { "code", "message" } }` with `status`. */
export class ApiError extends Error {
  readonly status: number
  readonly code: ApiErrorCode
  readonly headers: Readonly<Record<string, string>>

  constructor(status: number, code: ApiErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.headers = headers
  }
}
