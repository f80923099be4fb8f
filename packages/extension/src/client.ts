/*
 * A client of the fleet-breaker Lambda extension, for Node.js functions. One file with no imports:
 * use it from `@fleet-breaker/extension/client`, or copy it into a function.
 *
 * Every call fails open, as the breaker does: if the extension cannot be reached or answers with
 * an error, the call is allowed (and there is nothing to settle).
 */

/** A circuit's state. */
export type ExtensionCircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN'

/** The extension's answer to "may I call?" through the permit API. */
export interface ExtensionAdmission {
  readonly allowed: boolean
  readonly state: ExtensionCircuitState
  /** Settle it with `success`, `failure` or `release`; absent when refused or when failing open. */
  readonly permit?: string
  readonly isProbe: boolean
  readonly retryAfterMs: number
  /** Why the call was refused (`open`, `probes-busy`, `forced-open`, ...). */
  readonly reason?: string
  /** True when the extension could not be asked and the call is allowed anyway. */
  readonly failedOpen?: boolean
}

/** The answer of the circuitbreaker-lambda compatible check. */
export interface ExtensionCheck {
  readonly allowed: boolean
  readonly state: ExtensionCircuitState
  readonly retryAfterMs?: number
  readonly reason?: string
  readonly failedOpen?: boolean
}

export interface FleetBreakerClientOptions {
  /** Default `http://127.0.0.1:${CIRCUIT_BREAKER_EXTENSION_PORT ?? 4243}`. */
  readonly baseUrl?: string
  /** The shared secret. Default `CIRCUIT_BREAKER_EXTENSION_TOKEN`, if set. */
  readonly token?: string
  /** How long to wait for the extension. Default 1 500 ms (the store's own deadline is 500 ms). */
  readonly timeoutMs?: number
}

/** Options of one call. */
export interface CallOptions {
  /** The invocation's request id (`context.awsRequestId`), so the permit is tied to it exactly. */
  readonly requestId?: string
}

/** Thrown by {@link FleetBreakerClient.execute} when the circuit refuses the call. */
export class CircuitRejectedError extends Error {
  readonly circuitId: string
  readonly state: ExtensionCircuitState
  readonly retryAfterMs: number
  readonly reason: string | undefined

  constructor(circuitId: string, admission: ExtensionAdmission) {
    super(
      `Circuit "${circuitId}" is ${admission.state} (${admission.reason ?? 'refused'}); retry after ${admission.retryAfterMs} ms`,
    )
    this.name = 'CircuitRejectedError'
    this.circuitId = circuitId
    this.state = admission.state
    this.retryAfterMs = admission.retryAfterMs
    this.reason = admission.reason
  }
}

/**
 * Whether `error` is a {@link CircuitRejectedError} (from any copy of this file).
 *
 * @example
 * ```ts
 * import { isCircuitRejectedError } from '@fleet-breaker/extension/client'
 *
 * const error: unknown = new Error('boom')
 * if (isCircuitRejectedError(error)) console.log(error.retryAfterMs)
 * ```
 */
export function isCircuitRejectedError(error: unknown): error is CircuitRejectedError {
  return error instanceof Error && error.name === 'CircuitRejectedError' && 'retryAfterMs' in error
}

const FAIL_OPEN: ExtensionAdmission = {
  allowed: true,
  state: 'CLOSED',
  isProbe: false,
  retryAfterMs: 0,
  failedOpen: true,
}

/**
 * Talks to the fleet-breaker extension on loopback.
 *
 * @example
 * ```ts
 * import { FleetBreakerClient } from '@fleet-breaker/extension/client'
 *
 * const breaker = new FleetBreakerClient()
 *
 * export async function handler(event: unknown, context: { awsRequestId: string }) {
 *   const quote = await breaker.execute('pricing-api', () => fetch('https://pricing.example.com/quote'), {
 *     requestId: context.awsRequestId,
 *   })
 *   return { statusCode: 200, body: await quote.text() }
 * }
 * ```
 */
export class FleetBreakerClient {
  readonly #baseUrl: string
  readonly #token: string | undefined
  readonly #timeoutMs: number

  constructor(options: FleetBreakerClientOptions = {}) {
    const port = process.env.CIRCUIT_BREAKER_EXTENSION_PORT || '4243'
    this.#baseUrl = (options.baseUrl ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '')
    this.#token = options.token ?? (process.env.CIRCUIT_BREAKER_EXTENSION_TOKEN || undefined)
    this.#timeoutMs = options.timeoutMs ?? 1_500
  }

  // ---- the permit API ---------------------------------------------------------------------------

  /** Asks whether a call may be made; settle the permit of an allowed call exactly once. */
  async admit(circuitId: string, options: CallOptions = {}): Promise<ExtensionAdmission> {
    const answer = await this.#request('POST', `/circuit/${encodeURIComponent(circuitId)}/admit`, options)
    if (answer === undefined || typeof answer.allowed !== 'boolean') return FAIL_OPEN
    return { ...(answer as unknown as ExtensionAdmission), retryAfterMs: millisecondsOf(answer.retryAfterMs) }
  }

  /** Records that the admitted call succeeded. */
  success(permit: string | undefined): Promise<void> {
    return this.#settle(permit, 'success')
  }

  /** Records that the admitted call failed in a way that says the downstream is unhealthy. */
  failure(permit: string | undefined): Promise<void> {
    return this.#settle(permit, 'failure')
  }

  /** Gives the permit back without counting anything (the call was not made, or failed for another reason). */
  release(permit: string | undefined): Promise<void> {
    return this.#settle(permit, 'release')
  }

  /**
   * Makes `call` through the circuit: admits, calls, and records a success, or a failure when it
   * throws and `isFailure` (default: every error) says so. Throws {@link CircuitRejectedError} when
   * refused, and the call's own error when it fails.
   */
  async execute<T>(
    circuitId: string,
    call: () => Promise<T>,
    options: CallOptions & { readonly isFailure?: (error: unknown) => boolean } = {},
  ): Promise<T> {
    const admission = await this.admit(circuitId, options)
    if (!admission.allowed) throw new CircuitRejectedError(circuitId, admission)
    let value: T
    try {
      value = await call()
    } catch (error) {
      const counts = options.isFailure?.(error) ?? true
      await (counts ? this.failure(admission.permit) : this.release(admission.permit))
      throw error
    }
    await this.success(admission.permit)
    return value
  }

  /** The circuit's state as the store has it (`undefined` when the extension cannot be asked). */
  async state(circuitId: string): Promise<Record<string, unknown> | undefined> {
    return this.#request('GET', `/circuit/${encodeURIComponent(circuitId)}/state`, {})
  }

  // ---- the circuitbreaker-lambda compatible API -----------------------------------------------------

  /** `GET /circuit/{id}`: may a call be made? Report its outcome with `recordSuccess` / `recordFailure`. */
  async check(circuitId: string, options: CallOptions = {}): Promise<ExtensionCheck> {
    const answer = await this.#request('GET', `/circuit/${encodeURIComponent(circuitId)}`, options)
    return answer === undefined || typeof answer.allowed !== 'boolean'
      ? { allowed: true, state: 'CLOSED', failedOpen: true }
      : (answer as unknown as ExtensionCheck)
  }

  /** `POST /circuit/{id}/success`. */
  async recordSuccess(circuitId: string): Promise<void> {
    await this.#request('POST', `/circuit/${encodeURIComponent(circuitId)}/success`, {})
  }

  /** `POST /circuit/{id}/failure`. */
  async recordFailure(circuitId: string): Promise<void> {
    await this.#request('POST', `/circuit/${encodeURIComponent(circuitId)}/failure`, {})
  }

  async #settle(permit: string | undefined, outcome: 'success' | 'failure' | 'release'): Promise<void> {
    if (permit === undefined) return
    await this.#request('POST', `/permits/${encodeURIComponent(permit)}/${outcome}`, {})
  }

  /** The answer's JSON, or `undefined` on any failure (the caller fails open). */
  async #request(method: string, path: string, options: CallOptions): Promise<Record<string, unknown> | undefined> {
    const headers: Record<string, string> = {}
    if (this.#token !== undefined) headers['X-Fleet-Breaker-Token'] = this.#token
    if (options.requestId !== undefined) headers['Lambda-Runtime-Aws-Request-Id'] = options.requestId
    try {
      const response = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      const body: unknown = await response.json()
      // Anything but a JSON object is not an answer of the extension: fail open.
      return response.ok && typeof body === 'object' && body !== null && !Array.isArray(body)
        ? (body as Record<string, unknown>)
        : undefined
    } catch {
      return undefined
    }
  }
}

/** A non-negative number of milliseconds, or 0 for anything else. */
function millisecondsOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0
}
