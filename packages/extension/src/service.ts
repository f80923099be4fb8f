import {
  CircuitAdmin,
  type CircuitBreakerError,
  type CircuitChange,
  type CircuitSnapshot,
  CircuitState,
  type CircuitStatus,
  type CircuitStore,
  isCircuitOpenError,
  isConcurrencyLimitError,
  isInvalidConfigurationError,
  isStoreUnavailableError,
  type Logger,
  type Verdict,
} from '@fleet-breaker/core'
import { CircuitLimitError, CircuitPool } from './circuits.js'
import { ApiError, ApiErrorCode } from './http/errors.js'
import {
  LedgerClosedError,
  Outcome,
  PermitLedger,
  type PermitLedgerOptions,
  PermitLimitError,
} from './permit-ledger.js'

/** Why a check or an admission was refused. */
export type DenialReason =
  | 'open'
  | 'probes-busy'
  | 'forced-open'
  | 'locally-open'
  | 'ramping'
  | 'concurrency-limit'
  | 'store-unavailable'

/** The answer of `POST /circuit/{id}/admit`. */
export interface AdmitAnswer {
  readonly allowed: boolean
  /** The state the decision acted on. */
  readonly state: CircuitState
  /** The permit to settle, when allowed. */
  readonly permit?: string
  readonly isProbe: boolean
  /** Milliseconds until a call may be admitted again (0 when allowed). */
  readonly retryAfterMs: number
  /** Why the call was refused. */
  readonly reason?: DenialReason
}

/** The answer of `GET /circuit/{id}` (circuitbreaker-lambda's shape, plus the refusal's details). */
export interface CheckAnswer {
  readonly allowed: boolean
  readonly state: CircuitState
  readonly retryAfterMs?: number
  readonly reason?: DenialReason
}

/** `GET /circuit/{id}/state`: the snapshot without the store's internal record. */
export type StateAnswer = Omit<CircuitSnapshot, 'record'>

/** The manual controls. */
export const AdminAction = {
  FORCE_OPEN: 'force-open',
  FORCE_CLOSE: 'force-close',
  CLEAR: 'clear',
  RESET: 'reset',
} as const
export type AdminAction = (typeof AdminAction)[keyof typeof AdminAction]

export interface AdminRequest {
  readonly reason?: string
  readonly durationMs?: number
  /** Who acts; default `extension:<function name>`. */
  readonly actor?: string
}

/** The answer of a manual control: whether it applied, and the circuit after it. */
export type AdminAnswer = { readonly applied: boolean } & Omit<CircuitStatus, 'record'>

export interface CircuitServiceOptions {
  readonly store: CircuitStore
  readonly logger: Logger
  readonly maxCircuits: number
  readonly maxPermits: number
  readonly permitTtlMs: number
  /** Whether the environment runs several invocations at once (see {@link PermitLedgerOptions.concurrentInvocations}). */
  readonly concurrentInvocations?: boolean
  /** Who the manual controls act as when a request names nobody. */
  readonly actor: string
  readonly now?: () => number
}

/**
 * What the HTTP API does, without HTTP: one breaker per circuit, the permits handed out, and the
 * mapping of circuitbreaker-lambda's call-less API onto permits.
 */
export class CircuitService {
  readonly ledger: PermitLedger
  readonly #pool: CircuitPool
  readonly #admin: CircuitAdmin
  readonly #logger: Logger

  constructor(options: CircuitServiceOptions) {
    this.#logger = options.logger
    this.ledger = new PermitLedger({
      maxPermits: options.maxPermits,
      permitTtlMs: options.permitTtlMs,
      logger: options.logger,
      concurrentInvocations: options.concurrentInvocations === true,
      ...(options.now === undefined ? {} : { now: options.now }),
    })
    this.#admin = new CircuitAdmin({ store: options.store, actor: options.actor, logger: options.logger })
    this.#pool = new CircuitPool({
      store: options.store,
      logger: options.logger,
      maxCircuits: options.maxCircuits,
      isBusy: (id) => this.ledger.isBusy(id),
      makeIdle: (id) => this.ledger.displaceChecksOf(id),
    })
  }

  get circuits(): number {
    return this.#pool.size
  }

  /** The permit API: asks for a call, and keeps the permit until it is settled or its invocation ends. */
  async admit(circuitId: string, invocation: string | undefined): Promise<AdmitAnswer> {
    const admission = await this.#breaker(circuitId).admit()
    if (!admission.admitted) return denial(admission.error)
    const { permit } = admission
    const id = this.#keep(() => this.ledger.add(permit, invocation === undefined ? {} : { invocation }))
    return {
      allowed: true,
      state: permit.isProbe ? CircuitState.HALF_OPEN : CircuitState.CLOSED,
      permit: id,
      isProbe: permit.isProbe,
      retryAfterMs: 0,
    }
  }

  /** Settles a permit of the permit API; `undefined` when it is not outstanding. */
  settle(permitId: string, outcome: Outcome): Promise<Verdict> | undefined {
    return this.ledger.settle(permitId, outcome)
  }

  /**
   * The compatible check: a refusal counts nothing; an admission is kept until the next outcome
   * this environment reports for the circuit (or its invocation ends).
   */
  async check(circuitId: string, invocation: string | undefined): Promise<CheckAnswer> {
    const admission = await this.#breaker(circuitId).admit()
    if (!admission.admitted) {
      const { state, retryAfterMs, reason } = denial(admission.error)
      return { allowed: false, state, retryAfterMs, ...(reason === undefined ? {} : { reason }) }
    }
    const { permit } = admission
    this.#keep(() =>
      this.ledger.add(permit, invocation === undefined ? { fromCheck: true } : { invocation, fromCheck: true }),
    )
    return { allowed: true, state: permit.isProbe ? CircuitState.HALF_OPEN : CircuitState.CLOSED }
  }

  /**
   * The compatible outcome: settles the oldest waiting check of the circuit (a probe first). An
   * outcome reported without a check counts only where a check would have been admitted as an
   * ordinary call: it can never settle a probe that nobody made.
   */
  async report(circuitId: string, outcome: typeof Outcome.SUCCESS | typeof Outcome.FAILURE): Promise<Verdict> {
    const breaker = this.#breaker(circuitId)
    const waiting = this.ledger.settleCheck(circuitId, outcome)
    if (waiting !== undefined) return waiting
    const admission = await breaker.admit()
    if (!admission.admitted) return 'ignored'
    if (admission.permit.isProbe) {
      await admission.permit.release()
      return 'ignored'
    }
    return outcome === Outcome.SUCCESS ? admission.permit.recordSuccess() : admission.permit.recordFailure()
  }

  /** The circuit's snapshot. */
  async state(circuitId: string): Promise<StateAnswer> {
    const { record: _record, ...snapshot } = await this.#breaker(circuitId).getState()
    return snapshot
  }

  /**
   * The manual controls, fleet-wide, through the core's `CircuitAdmin`: each change names its actor
   * (the request's `actor`, else this function) and is kept in the circuit's history. This
   * environment's breaker of the circuit is dropped (when nothing is outstanding on it), so the
   * next check here reads the change instead of waiting for `cacheTtlMs`.
   */
  async administer(circuitId: string, action: AdminAction, request: AdminRequest): Promise<AdminAnswer> {
    const { reason, durationMs } = request
    const who = {
      ...(request.actor === undefined ? {} : { actor: request.actor }),
      ...(reason === undefined ? {} : { reason }),
    }
    let change: CircuitChange
    try {
      switch (action) {
        case AdminAction.FORCE_OPEN:
          change = await this.#admin.forceOpen(circuitId, {
            ...who,
            ...(durationMs === undefined ? {} : { durationMs }),
          })
          break
        case AdminAction.FORCE_CLOSE:
          change = await this.#admin.forceClose(circuitId, {
            ...who,
            ...(durationMs === undefined ? {} : { durationMs }),
          })
          break
        case AdminAction.CLEAR:
          change = await this.#admin.clearOverride(circuitId, who)
          break
        default:
          change = await this.#admin.reset(circuitId, who)
      }
    } catch (error) {
      if (isInvalidConfigurationError(error)) throw new ApiError(400, ApiErrorCode.INVALID_BODY, error.message)
      this.#logger.warn('a manual control failed', { circuitId, action, error })
      throw new ApiError(503, ApiErrorCode.STORE_ERROR, `the store did not take the change: ${messageOf(error)}`)
    }
    this.#pool.forget(circuitId)
    const { record: _record, ...status } = change.status
    return { applied: change.applied, ...status }
  }

  #breaker(circuitId: string) {
    try {
      return this.#pool.get(circuitId)
    } catch (error) {
      if (error instanceof CircuitLimitError) throw new ApiError(503, ApiErrorCode.CIRCUIT_LIMIT, error.message)
      throw error
    }
  }

  #keep(add: () => string): string {
    try {
      return add()
    } catch (error) {
      if (error instanceof PermitLimitError) throw new ApiError(503, ApiErrorCode.PERMIT_LIMIT, error.message)
      if (error instanceof LedgerClosedError) throw new ApiError(503, ApiErrorCode.SHUTTING_DOWN, error.message)
      throw error
    }
  }
}

function denial(error: CircuitBreakerError): AdmitAnswer {
  if (isCircuitOpenError(error)) {
    return {
      allowed: false,
      state: error.state,
      isProbe: false,
      retryAfterMs: error.retryAfterMs,
      reason: error.reason,
    }
  }
  if (isConcurrencyLimitError(error)) {
    return { allowed: false, state: CircuitState.CLOSED, isProbe: false, retryAfterMs: 0, reason: 'concurrency-limit' }
  }
  if (isStoreUnavailableError(error)) {
    return { allowed: false, state: CircuitState.OPEN, isProbe: false, retryAfterMs: 0, reason: 'store-unavailable' }
  }
  return { allowed: false, state: CircuitState.OPEN, isProbe: false, retryAfterMs: 0 }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
