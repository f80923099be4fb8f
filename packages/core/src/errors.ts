import type { CircuitState } from './state.js'

/*
 * Errors carry a brand under a registry symbol rather than relying on `instanceof`, so the guards
 * keep working when a bundle or a Lambda layer ends up with two copies of this package.
 */
const BRAND = Symbol.for('fleet-breaker.error')

/** The kinds of error this package throws; each is the `name` of its class. */
export const CircuitBreakerErrorName = {
  BASE: 'CircuitBreakerError',
  CIRCUIT_OPEN: 'CircuitOpenError',
  CONCURRENCY_LIMIT: 'ConcurrencyLimitError',
  CALL_TIMEOUT: 'CallTimeoutError',
  STORE_UNAVAILABLE: 'StoreUnavailableError',
  INVALID_CONFIGURATION: 'InvalidConfigurationError',
  FAILOVER_EXHAUSTED: 'FailoverExhaustedError',
} as const
export type CircuitBreakerErrorName = (typeof CircuitBreakerErrorName)[keyof typeof CircuitBreakerErrorName]

/**
 * The base of every error this package throws.
 *
 * @example
 * ```ts
 * try { await breaker.execute(call) } catch (error) { if (isCircuitBreakerError(error)) console.log(error.circuitId) }
 * ```
 */
export class CircuitBreakerError extends Error {
  /** The circuit the error concerns, when there is one. */
  readonly circuitId: string | undefined

  constructor(message: string, options: { circuitId?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.circuitId = options.circuitId
    this.name = CircuitBreakerErrorName.BASE
  }

  static {
    brandPrototype(CircuitBreakerError, CircuitBreakerErrorName.BASE)
  }

  /**
   * Sets `name` and the cross-copy brand on this error, for a subclass of one of these errors that
   * wants another kind's brand. The classes here carry theirs on their prototype, set once: an own
   * property defined on each error would cost every rejection a property definition.
   */
  protected brand(name: CircuitBreakerErrorName): void {
    this.name = name
    Object.defineProperty(this, BRAND, { value: name, enumerable: false, configurable: true })
  }
}

/** Puts the cross-copy brand on a class's prototype, where the guards find it through any instance. */
function brandPrototype(errorClass: { readonly prototype: Error }, name: CircuitBreakerErrorName): void {
  Object.defineProperty(errorClass.prototype, BRAND, { value: name, enumerable: false, configurable: true })
}

/** Why a call was rejected without being attempted. */
export const RejectionReason = {
  /** The circuit is open and its retry time has not come. */
  OPEN: 'open',
  /** The circuit is half-open and every probe slot is taken. */
  PROBES_BUSY: 'probes-busy',
  /** An operator forced the circuit open. */
  FORCED_OPEN: 'forced-open',
  /**
   * The shared store could not be reached and this environment's own failures reached the
   * threshold: it stops calling on its own, as a breaker of its own would.
   */
  LOCALLY_OPEN: 'locally-open',
  /**
   * The circuit closed a moment ago and this environment is still admitting only a rising share of
   * calls (`rampUpMs`).
   */
  RAMPING: 'ramping',
} as const
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason]

/** What a {@link CircuitOpenError} says: why the call was turned away and when to retry. */
export interface CircuitOpenDetails {
  readonly circuitId: string
  readonly state: CircuitState
  readonly reason: RejectionReason
  /** Milliseconds until a call may be admitted again (0 when that is already the case). */
  readonly retryAfterMs: number
  readonly forcedReason?: string
  readonly forcedActor?: string
  readonly forcedSince?: number
  readonly forcedUntil?: number
}

/**
 * Thrown, without calling the protected function, when the circuit is open (or half-open with
 * every probe slot taken). `retryAfterMs` says when trying again makes sense, which is what an
 * HTTP `Retry-After` header or an SQS visibility timeout wants.
 *
 * @example
 * ```ts
 * catch (error) { if (isCircuitOpenError(error)) return { statusCode: 503, headers: { 'Retry-After': String(Math.ceil(error.retryAfterMs / 1000)) } } }
 * ```
 */
export class CircuitOpenError extends CircuitBreakerError {
  static {
    brandPrototype(CircuitOpenError, CircuitBreakerErrorName.CIRCUIT_OPEN)
    // `super()` calls `Error` itself: V8 walks every constructor frame when it records an error's
    // stack, and during an outage every invocation makes one of these. Instances still inherit
    // from `CircuitBreakerError.prototype`, and the constructor sets what the base's would; the
    // class itself does not inherit `CircuitBreakerError`'s static members (it has none).
    Object.setPrototypeOf(CircuitOpenError, Error)
  }

  // Declared, not defined as class fields: the constructor sets them in the order a serialised
  // error lists them, `circuitId` and `name` first, as the base class would.
  declare readonly circuitId: string
  declare readonly state: CircuitState
  declare readonly reason: RejectionReason
  /** Milliseconds until a call may be admitted again (0 when that is already the case). */
  declare readonly retryAfterMs: number
  /** The operator's reason, when the circuit was forced open. */
  declare readonly forcedReason: string | undefined
  /** Who forced the circuit open, when it was and the override names them. */
  declare readonly forcedActor: string | undefined
  /** When the circuit was forced open (epoch milliseconds), when it was. */
  declare readonly forcedSince: number | undefined
  /** When the forced open lapses (epoch milliseconds); `undefined` when forced until cleared, or not forced. */
  declare readonly forcedUntil: number | undefined

  constructor(details: CircuitOpenDetails) {
    const forcedBy = details.forcedActor === undefined ? '' : ` by ${details.forcedActor}`
    const why = `${details.reason}${details.forcedReason === undefined ? '' : `: ${details.forcedReason}`}${forcedBy}`
    super(`Circuit "${details.circuitId}" is ${details.state} (${why}); retry after ${details.retryAfterMs} ms`)
    this.circuitId = details.circuitId
    this.name = CircuitBreakerErrorName.CIRCUIT_OPEN
    this.state = details.state
    this.reason = details.reason
    this.retryAfterMs = details.retryAfterMs
    this.forcedReason = details.forcedReason
    this.forcedActor = details.forcedActor
    this.forcedSince = details.forcedSince
    this.forcedUntil = details.forcedUntil
  }
}

/**
 * Thrown when `maxConcurrent` calls are already in flight on this breaker instance and the queue
 * of `maxQueued` waiting calls is full. It says nothing about the downstream and is never counted
 * as a failure.
 *
 * @example
 * ```ts
 * catch (error) { if (isConcurrencyLimitError(error)) return { statusCode: 429 } }
 * ```
 */
export class ConcurrencyLimitError extends CircuitBreakerError {
  static {
    brandPrototype(ConcurrencyLimitError, CircuitBreakerErrorName.CONCURRENCY_LIMIT)
  }

  declare readonly circuitId: string
  readonly maxConcurrent: number

  constructor(details: { circuitId: string; maxConcurrent: number; maxQueued: number }) {
    super(
      `Circuit "${details.circuitId}" already has ${details.maxConcurrent} calls in flight and ${details.maxQueued} waiting`,
      { circuitId: details.circuitId },
    )
    this.name = CircuitBreakerErrorName.CONCURRENCY_LIMIT
    this.maxConcurrent = details.maxConcurrent
  }
}

/**
 * Thrown when a call outlives `callTimeoutMs`. The call's `AbortSignal` is aborted with this error
 * as its reason; the timeout counts as a failure.
 *
 * @example
 * ```ts
 * await breaker.execute((signal) => fetch(url, { signal })) // rejects with CallTimeoutError after callTimeoutMs
 * ```
 */
export class CallTimeoutError extends CircuitBreakerError {
  static {
    brandPrototype(CallTimeoutError, CircuitBreakerErrorName.CALL_TIMEOUT)
  }

  declare readonly circuitId: string
  readonly timeoutMs: number

  constructor(details: { circuitId: string; timeoutMs: number }) {
    super(`Call through circuit "${details.circuitId}" timed out after ${details.timeoutMs} ms`, {
      circuitId: details.circuitId,
    })
    this.name = CircuitBreakerErrorName.CALL_TIMEOUT
    this.timeoutMs = details.timeoutMs
  }
}

/**
 * Thrown instead of calling the function when the store cannot be reached and the breaker's
 * `storeOutage` policy is `'fail-closed'`; and by an operator's action (`forceOpen`, `forceClose`,
 * `clearOverride`, `reset`) the store did not take, whatever the policy. The store error is the
 * `cause`; `operation` says which store operation failed.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ circuitId: 'ledger', store, storeOutage: 'fail-closed' })
 * try {
 *   await breaker.forceOpen({ reason: 'maintenance' })
 * } catch (error) {
 *   if (isStoreUnavailableError(error)) console.error(`not applied (${error.operation}); try again`, error.cause)
 * }
 * ```
 */
export class StoreUnavailableError extends CircuitBreakerError {
  static {
    brandPrototype(StoreUnavailableError, CircuitBreakerErrorName.STORE_UNAVAILABLE)
  }

  declare readonly circuitId: string

  /** The store operation that failed: `'read'` for a call under `fail-closed`, or an operator's action (`'setForced'`, `'reset'`). */
  readonly operation: string

  constructor(details: { circuitId: string; cause: unknown; operation?: string }) {
    const operation = details.operation ?? 'read'
    super(
      operation === 'read'
        ? `The state of circuit "${details.circuitId}" cannot be read and the store outage policy is fail-closed`
        : `The store of circuit "${details.circuitId}" could not be reached for ${operation}; nothing was changed, or the change is not known to have been made: try again`,
      { circuitId: details.circuitId, cause: details.cause },
    )
    this.operation = operation
    this.name = CircuitBreakerErrorName.STORE_UNAVAILABLE
  }
}

/**
 * Thrown at construction when an option (or the environment variable behind it) is invalid.
 * The message names the option, what it accepts and the value received.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ circuitId: 'x', failureThreshold: 0 })
 * // InvalidConfigurationError: failureThreshold must be an integer of 1 or more; received 0
 * ```
 */
export class InvalidConfigurationError extends CircuitBreakerError {
  static {
    brandPrototype(InvalidConfigurationError, CircuitBreakerErrorName.INVALID_CONFIGURATION)
  }

  readonly option: string
  readonly value: unknown

  constructor(option: string, value: unknown, expected: string) {
    super(`${option} must be ${expected}; received ${describeValue(value)}`)
    this.name = CircuitBreakerErrorName.INVALID_CONFIGURATION
    this.option = option
    this.value = value
  }
}

/** What happened when the failover helper tried one provider. */
export interface FailoverAttempt {
  readonly provider: string
  /** `'rejected'`: its circuit did not let the call through; `'failed'`: the call failed in a way that counts. */
  readonly outcome: 'rejected' | 'failed'
  readonly error: unknown
}

/**
 * Thrown by `failover()` when every provider was rejected by its circuit or failed. `attempts`
 * says what happened with each, in order; `cause` is the last error.
 *
 * @example
 * ```ts
 * catch (error) { if (isFailoverExhaustedError(error)) logger.error('no email provider available', { attempts: error.attempts }) }
 * ```
 */
export class FailoverExhaustedError extends CircuitBreakerError {
  static {
    brandPrototype(FailoverExhaustedError, CircuitBreakerErrorName.FAILOVER_EXHAUSTED)
  }

  readonly attempts: readonly FailoverAttempt[]

  constructor(attempts: readonly FailoverAttempt[]) {
    const summary = attempts.map((attempt) => `${attempt.provider} ${attempt.outcome}`).join(', ')
    super(`Every provider was unavailable (${summary})`, { cause: attempts.at(-1)?.error })
    this.name = CircuitBreakerErrorName.FAILOVER_EXHAUSTED
    this.attempts = attempts
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}

function hasBrand(error: unknown, name?: CircuitBreakerErrorName): boolean {
  if (typeof error !== 'object' || error === null) return false
  const brand: unknown = Reflect.get(error, BRAND)
  return name === undefined ? typeof brand === 'string' : brand === name
}

/**
 * Whether `error` was thrown by fleet-breaker (any copy of it).
 *
 * @example
 * ```ts
 * if (isCircuitBreakerError(error)) logger.info('rejected by the breaker', { circuitId: error.circuitId })
 * ```
 */
export function isCircuitBreakerError(error: unknown): error is CircuitBreakerError {
  return hasBrand(error)
}

/**
 * Whether `error` is a {@link CircuitOpenError}, across duplicate copies of this package.
 *
 * @example
 * ```ts
 * if (isCircuitOpenError(error)) return cachedQuote()
 * ```
 */
export function isCircuitOpenError(error: unknown): error is CircuitOpenError {
  return hasBrand(error, CircuitBreakerErrorName.CIRCUIT_OPEN)
}

/**
 * Whether `error` is a {@link ConcurrencyLimitError}.
 *
 * @example
 * ```ts
 * if (isConcurrencyLimitError(error)) return { statusCode: 429 }
 * ```
 */
export function isConcurrencyLimitError(error: unknown): error is ConcurrencyLimitError {
  return hasBrand(error, CircuitBreakerErrorName.CONCURRENCY_LIMIT)
}

/**
 * Whether `error` is a {@link CallTimeoutError}.
 *
 * @example
 * ```ts
 * if (isCallTimeoutError(error)) metrics.addMetric('PaymentTimeout', 'Count', 1)
 * ```
 */
export function isCallTimeoutError(error: unknown): error is CallTimeoutError {
  return hasBrand(error, CircuitBreakerErrorName.CALL_TIMEOUT)
}

/**
 * Whether `error` is a {@link StoreUnavailableError}.
 *
 * @example
 * ```ts
 * if (isStoreUnavailableError(error)) return { statusCode: 503 }
 * ```
 */
export function isStoreUnavailableError(error: unknown): error is StoreUnavailableError {
  return hasBrand(error, CircuitBreakerErrorName.STORE_UNAVAILABLE)
}

/**
 * Whether `error` is an {@link InvalidConfigurationError}.
 *
 * @example
 * ```ts
 * if (isInvalidConfigurationError(error)) console.error(`fix ${error.option}`)
 * ```
 */
export function isInvalidConfigurationError(error: unknown): error is InvalidConfigurationError {
  return hasBrand(error, CircuitBreakerErrorName.INVALID_CONFIGURATION)
}

/**
 * Whether `error` is a {@link FailoverExhaustedError}.
 *
 * @example
 * ```ts
 * if (isFailoverExhaustedError(error)) return { statusCode: 503 }
 * ```
 */
export function isFailoverExhaustedError(error: unknown): error is FailoverExhaustedError {
  return hasBrand(error, CircuitBreakerErrorName.FAILOVER_EXHAUSTED)
}
