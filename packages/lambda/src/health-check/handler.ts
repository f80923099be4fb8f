import {
  type CallPermit,
  CircuitBreaker,
  CircuitState,
  type CircuitStore,
  DEFAULTS,
  type DownstreamOptions,
  InvalidConfigurationError,
  jsonConsoleLogger,
  type Logger,
  type ProbeSkipReason,
} from '@fleet-breaker/core'
import type { RemainingTime } from '../lambda-context.js'
import { mapBounded } from './bounded.js'
import { checkTimeoutMs, type HealthCheck, runCheck } from './run-check.js'

/** One downstream the checker tests: its circuit, how to check it, and whether failed checks may open it. */
export interface HealthCheckTarget {
  readonly circuitId: string
  readonly check: HealthCheck
  /**
   * Open a CLOSED circuit after this many failed checks in a row, each within two check intervals
   * of the one before (a passing check starts over). Each failed check is also counted as a failure
   * of the circuit in the store, like a live call's, against the fleet's `failureThreshold`; but
   * failures counted by live calls never make a check open the circuit sooner. The run of failed
   * checks is kept by the checker's execution environment: a new environment starts it over, which
   * can only delay opening. Count mode circuits only. Default: checks never open a closed circuit.
   */
  readonly openAfter?: number
  /** Options of this circuit's breaker, over the handler's `breakerOptions`. */
  readonly breakerOptions?: DownstreamOptions
}

/** Options of {@link healthCheckHandler}. */
export interface HealthCheckHandlerOptions {
  /** The store the fleet's breakers share. */
  readonly store: CircuitStore
  readonly targets: readonly HealthCheckTarget[]
  /**
   * The options the fleet's breakers use for these circuits (`resetTimeoutMs`,
   * `maxResetTimeoutMs`, `halfOpenMaxProbes`, `halfOpenSuccessThreshold`, `healthCheckIntervalMs`,
   * ...), so a failed check reopens with the fleet's backoff.
   */
  readonly breakerOptions?: DownstreamOptions
  /** Checks running at once. Default 4. */
  readonly concurrency?: number
  /**
   * Time kept at the end of the invocation to record outcomes and give leases back: a check still
   * running this long before the invocation ends is cut short and its lease released. Default 2 000.
   */
  readonly deadlineMarginMs?: number
  /** Where the summary and problems go. Default the core's JSON console logger. */
  readonly logger?: Logger
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  readonly now?: () => number
}

/**
 * What a check did to its circuit.
 *
 * @example
 * ```ts
 * const reopened = summary.results.filter((result) => result.outcome === HealthCheckOutcome.REOPENED)
 * ```
 */
export const HealthCheckOutcome = {
  /** The check was the probe and its success closed the circuit. */
  CLOSED: 'closed',
  /** The check was the probe and succeeded; more successes are needed (`halfOpenSuccessThreshold`). */
  PROBE_SUCCEEDED: 'probe-succeeded',
  /** The check was the probe and failed: the circuit reopened with a longer backoff. */
  REOPENED: 'reopened',
  /** A closed circuit (`openAfter`) passed its check; failures counted are cleared. */
  HEALTHY: 'healthy',
  /** A closed circuit (`openAfter`) failed its check: one more failure counted. */
  FAILING: 'failing',
  /** A closed circuit (`openAfter`) failed its check and that opened it. */
  OPENED: 'opened',
  /** No check was made: see `reason`. */
  SKIPPED: 'skipped',
  /** The invocation's deadline came first: the check was abandoned, its lease given back, nothing counted. */
  CUT_SHORT: 'cut-short',
  /** The store failed the checker (logged). */
  ERROR: 'error',
} as const
export type HealthCheckOutcome = (typeof HealthCheckOutcome)[keyof typeof HealthCheckOutcome]

/** Why a target was skipped: the probe path's reasons, or no time left in the invocation. */
export type HealthCheckSkipReason = ProbeSkipReason | 'out-of-time' | 'rejected'

/** One target's line in the summary. */
export interface HealthCheckResult {
  readonly circuitId: string
  readonly outcome: HealthCheckOutcome
  /** The circuit's state after the check (as last known). */
  readonly state: CircuitState
  readonly reason?: HealthCheckSkipReason
  /** For a skipped circuit, when a check may have something to do. */
  readonly retryAfterMs?: number
  /** Why the check failed, or what went wrong. */
  readonly error?: string
  readonly durationMs: number
}

/** What a run did, returned and logged. */
export interface HealthCheckSummary {
  readonly startedAt: string
  readonly durationMs: number
  /** How many targets had each outcome. */
  readonly outcomes: Readonly<Partial<Record<HealthCheckOutcome, number>>>
  readonly results: readonly HealthCheckResult[]
}

const DEFAULT_CONCURRENCY = 4
const DEFAULT_DEADLINE_MARGIN_MS = 2_000
/** The longest a check may take: a Lambda invocation's limit. */
const MAX_CHECK_TIMEOUT_MS = 900_000
/** Least time worth starting a check in. */
const MIN_CHECK_MS = 50

/**
 * A Lambda handler for an EventBridge schedule (`rate(1 minute)`) that health-checks downstreams
 * and acts as their circuits' probe, so that no user request has to be.
 *
 * For each target whose circuit is OPEN and due for a retry, or HALF_OPEN with a free probe slot,
 * the check takes a probe lease through the store exactly as a live probe would (it never races
 * one, and `halfOpenMaxProbes` holds): success closes the circuit, failure reopens it with the
 * usual backoff. The checker waits for the retry time like everyone else: an open circuit that is
 * not due is skipped (`not-due`), so the fleet's backoff holds and its retry time is never moved.
 * With `openAfter`, failed checks also count against a CLOSED circuit.
 *
 * Checks run `concurrency` at a time and all end `deadlineMarginMs` before the invocation does: a
 * check still running then is abandoned and its lease given back at once (if the environment is
 * stopped before that, the lease lapses after the check's timeout plus three store timeouts and a
 * second, or after the fleet's `probeLeaseMs` if that is longer: the lease never lapses mid-check).
 * Skipped for lack of time, a target costs no store call. Pair it with `liveProbes: false` on the fleet's breakers.
 *
 * @example
 * ```ts
 * import { healthCheckHandler } from '@fleet-breaker/lambda'
 * import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
 *
 * export const handler = healthCheckHandler({
 *   store: new DynamoDBStore({ tableName: 'circuit-breakers' }),
 *   breakerOptions: { resetTimeoutMs: 30_000 },
 *   targets: [
 *     { circuitId: 'payment-api', check: { url: 'https://payments.example.com/health', timeoutMs: 3_000 } },
 *     { circuitId: 'ledger', check: async (signal) => (await fetch('https://ledger.example.com/ping', { signal })).ok, openAfter: 3 },
 *   ],
 * })
 * ```
 */
export function healthCheckHandler(
  options: HealthCheckHandlerOptions,
): (event: unknown, context: RemainingTime) => Promise<HealthCheckSummary> {
  const settings = resolveSettings(options)
  const checkers = options.targets.map((target) => new TargetChecker(target, options, settings))

  return async function healthCheck(_event: unknown, context: RemainingTime): Promise<HealthCheckSummary> {
    const startedAt = settings.now()
    const deadline = startedAt + context.getRemainingTimeInMillis() - settings.deadlineMarginMs
    const results = await mapBounded(checkers, settings.concurrency, (checker) => checker.run(deadline))
    const outcomes: Partial<Record<HealthCheckOutcome, number>> = {}
    for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1
    const summary = {
      startedAt: new Date(startedAt).toISOString(),
      durationMs: settings.now() - startedAt,
      outcomes,
      results,
    }
    settings.logger.info('fleet-breaker: health check', { ...summary })
    return summary
  }
}

interface Settings {
  readonly concurrency: number
  readonly deadlineMarginMs: number
  readonly logger: Logger
  readonly now: () => number
}

function resolveSettings(options: HealthCheckHandlerOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new InvalidConfigurationError('options', options, 'an object')
  const { targets } = options
  if (!Array.isArray(targets) || targets.length === 0) {
    throw new InvalidConfigurationError('targets', targets, 'a non-empty array of { circuitId, check }')
  }
  const seen = new Set<string>()
  targets.forEach((target: HealthCheckTarget, index) => {
    checkTarget(target, index)
    if (seen.has(target.circuitId)) {
      throw new InvalidConfigurationError(
        `targets[${index}].circuitId`,
        target.circuitId,
        'a circuit not checked twice',
      )
    }
    seen.add(target.circuitId)
  })
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new InvalidConfigurationError('concurrency', concurrency, 'an integer of 1 to 64')
  }
  const deadlineMarginMs = options.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS
  if (!Number.isInteger(deadlineMarginMs) || deadlineMarginMs < 0) {
    throw new InvalidConfigurationError('deadlineMarginMs', deadlineMarginMs, 'an integer of 0 or more')
  }
  return {
    concurrency,
    deadlineMarginMs,
    logger: options.logger ?? jsonConsoleLogger,
    now: options.now ?? Date.now,
  }
}

function checkTarget(target: HealthCheckTarget, index: number): void {
  const at = `targets[${index}]`
  if (typeof target !== 'object' || target === null) throw new InvalidConfigurationError(at, target, 'an object')
  const { check, openAfter } = target
  if (typeof check !== 'function') {
    if (typeof check !== 'object' || check === null || typeof check.url !== 'string' || !URL.canParse(check.url)) {
      throw new InvalidConfigurationError(`${at}.check`, check, 'a function or { url } with an absolute URL')
    }
    const { timeoutMs, expectedStatus } = check
    // At most a Lambda invocation's 15 minutes (a timer beyond 2^31 - 1 ms would fire at once).
    if (
      timeoutMs !== undefined &&
      (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_CHECK_TIMEOUT_MS)
    ) {
      throw new InvalidConfigurationError(
        `${at}.check.timeoutMs`,
        timeoutMs,
        `an integer of 1 to ${MAX_CHECK_TIMEOUT_MS}`,
      )
    }
    // (Absent, any 2xx is expected: a valid list stands in for it.)
    const statuses =
      expectedStatus === undefined ? [200] : typeof expectedStatus === 'number' ? [expectedStatus] : expectedStatus
    if (
      !Array.isArray(statuses) ||
      statuses.length === 0 ||
      statuses.some((status) => !Number.isInteger(status) || status < 100 || status > 599)
    ) {
      throw new InvalidConfigurationError(
        `${at}.check.expectedStatus`,
        expectedStatus,
        'an HTTP status or a non-empty list of them',
      )
    }
  }
  if (openAfter !== undefined && (!Number.isInteger(openAfter) || openAfter < 1 || openAfter > 1_000)) {
    throw new InvalidConfigurationError(`${at}.openAfter`, openAfter, 'an integer of 1 to 1000')
  }
}

/** The checker of one target, with its own breakers of the target's circuit (created once). */
class TargetChecker {
  readonly #target: HealthCheckTarget
  /** Probes, and counts a closed circuit's failed check like a live call's failure. */
  readonly #breaker: CircuitBreaker
  /** Opens the circuit when a failed check completes `openAfter` in a row: its threshold is one failure. */
  readonly #opener: CircuitBreaker | undefined
  readonly #settings: Settings
  readonly #intervalMs: number
  /** The circuit's state as the last run of this environment found it. */
  #lastState: CircuitState = CircuitState.CLOSED
  /** The failed checks in a row of a closed circuit, and when the last one was. */
  #failing = { count: 0, lastAt: 0 }

  constructor(target: HealthCheckTarget, options: HealthCheckHandlerOptions, settings: Settings) {
    this.#target = target
    this.#settings = settings
    const fleet = { ...options.breakerOptions, ...target.breakerOptions }
    const storeTimeoutMs = fleet.storeTimeoutMs ?? DEFAULTS.storeTimeoutMs
    this.#intervalMs = fleet.healthCheckIntervalMs ?? DEFAULTS.healthCheckIntervalMs
    const checker = {
      ...fleet,
      store: options.store,
      circuitId: target.circuitId,
      // Every run decides from the store, never from what an earlier run saw.
      cacheTtlMs: 0,
      liveProbes: true,
      // The lease outlives the check, whatever the fleet's probeLeaseMs (a lease lapsing mid-check
      // would let a second probe in); a checker stopped mid-check leaves one that lapses soon after.
      probeLeaseMs: Math.max(fleet.probeLeaseMs ?? 0, checkTimeoutMs(target.check) + 3 * storeTimeoutMs + 1_000),
      logger: settings.logger,
      now: settings.now,
    }
    this.#breaker = new CircuitBreaker(checker)
    const { openAfter } = target
    if (openAfter === undefined) return
    const { failureRateThreshold, slowCallRateThreshold } = this.#breaker.options
    if (failureRateThreshold !== undefined || slowCallRateThreshold !== undefined) {
      throw new InvalidConfigurationError(
        `targets[${options.targets.indexOf(target)}].openAfter`,
        openAfter,
        'unset for a circuit in the failure-rate mode (openAfter counts failed checks)',
      )
    }
    this.#opener = new CircuitBreaker({ ...checker, failureThreshold: 1, minEnvironments: 1 })
  }

  async run(deadline: number): Promise<HealthCheckResult> {
    const started = this.#settings.now()
    try {
      return await this.#run(deadline, started)
    } catch (error) {
      this.#settings.logger.error('fleet-breaker: health check failed', { circuitId: this.#target.circuitId, error })
      const state = (await this.#breaker.getState().catch(() => undefined))?.state ?? CircuitState.CLOSED
      return this.#result(started, { outcome: HealthCheckOutcome.ERROR, state, error: messageOf(error) })
    }
  }

  async #run(deadline: number, started: number): Promise<HealthCheckResult> {
    if (deadline - started < MIN_CHECK_MS) {
      // No store call past the deadline: a slow store would hold the invocation beyond its end.
      const state = this.#lastState
      return this.#result(started, { outcome: HealthCheckOutcome.SKIPPED, state, reason: 'out-of-time' })
    }
    const probe = await this.#breaker.admitProbe()
    if (probe.admitted) {
      this.#failing = { count: 0, lastAt: 0 }
      return this.#check(probe.permit, deadline, started)
    }
    if (probe.reason !== 'closed' || this.#opener === undefined) {
      const { state, reason, retryAfterMs } = probe
      return this.#result(started, { outcome: HealthCheckOutcome.SKIPPED, state, reason, retryAfterMs })
    }
    // A closed circuit under openAfter: the check counts like a live call.
    const admission = await this.#breaker.admit()
    if (!admission.admitted) {
      const state = (await this.#breaker.getState()).state
      return this.#result(started, { outcome: HealthCheckOutcome.SKIPPED, state, reason: 'rejected' })
    }
    return this.#check(admission.permit, deadline, started)
  }

  /**
   * Opens the closed circuit after openAfter failed checks in a row: the failure just counted
   * meets the opener's threshold of one, so its admission opens the circuit with the guard a
   * live breaker uses. A success counted meanwhile (failures back to zero) lets it through instead,
   * and then nothing opens.
   */
  async #open(): Promise<void> {
    const opening = await this.#opener?.admit()
    if (opening?.admitted) await opening.permit.release()
  }

  /** The failed checks in a row so far, forgotten when the last was more than two intervals ago. */
  #failedInARow(now: number): number {
    const { count, lastAt } = this.#failing
    return count > 0 && now - lastAt <= 2 * this.#intervalMs ? count : 0
  }

  async #check(permit: CallPermit, deadline: number, started: number): Promise<HealthCheckResult> {
    const result = await runCheck(this.#target.check, deadline - this.#settings.now())
    if (result.kind === 'cut-short') {
      await permit.release()
      const state = permit.isProbe ? CircuitState.HALF_OPEN : CircuitState.CLOSED
      return this.#result(started, { outcome: HealthCheckOutcome.CUT_SHORT, state })
    }
    if (!permit.isProbe) {
      this.#failing =
        result.kind === 'healthy'
          ? { count: 0, lastAt: 0 }
          : { count: this.#failedInARow(started) + 1, lastAt: started }
    }
    if (result.kind === 'healthy') await permit.recordSuccess()
    else await permit.recordFailure()
    if (!permit.isProbe && this.#failing.count >= (this.#target.openAfter ?? Number.POSITIVE_INFINITY)) {
      await this.#open()
    }
    const { state } = await this.#breaker.getState()
    if (state !== CircuitState.CLOSED) this.#failing = { count: 0, lastAt: 0 }
    const error = result.kind === 'failed' ? { error: result.error } : {}
    return this.#result(started, {
      outcome: outcomeOf(permit.isProbe, result.kind === 'healthy', state),
      state,
      ...error,
    })
  }

  #result(started: number, details: Omit<HealthCheckResult, 'circuitId' | 'durationMs'>): HealthCheckResult {
    this.#lastState = details.state
    return { circuitId: this.#target.circuitId, ...details, durationMs: this.#settings.now() - started }
  }
}

function outcomeOf(probe: boolean, healthy: boolean, after: CircuitState): HealthCheckOutcome {
  if (probe) {
    if (!healthy) return HealthCheckOutcome.REOPENED
    return after === CircuitState.CLOSED ? HealthCheckOutcome.CLOSED : HealthCheckOutcome.PROBE_SUCCEEDED
  }
  if (healthy) return HealthCheckOutcome.HEALTHY
  return after === CircuitState.CLOSED ? HealthCheckOutcome.FAILING : HealthCheckOutcome.OPENED
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
