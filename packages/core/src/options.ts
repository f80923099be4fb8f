import { isServiceFailure, isServiceFailureResponse } from './classify.js'
import { ENVIRONMENT_ID } from './environment.js'
import { InvalidConfigurationError } from './errors.js'
import { jsonConsoleLogger, type Logger } from './logger.js'
import { registerEnvironmentVariables, warnAboutMisspeltVariables } from './misspelt-variables.js'
import type { BreakerObserver } from './observe/observer.js'
import type { PowertoolsMetricsLike } from './observe/powertools-metrics.js'
import { resolveObservers } from './observe/resolve.js'
import { MAX_FAILING_ENVIRONMENTS } from './state.js'
import type { CircuitStore } from './store/contract.js'
import { isOpId } from './store/op-id.js'

/** What the breaker does while its store cannot be reached. */
export const StoreOutagePolicy = {
  /** Get out of the way: calls go through as if the circuit were closed (a cached OPEN still holds). */
  FAIL_OPEN: 'fail-open',
  /** Reject calls with `StoreUnavailableError` (or run the fallback). */
  FAIL_CLOSED: 'fail-closed',
} as const
export type StoreOutagePolicy = (typeof StoreOutagePolicy)[keyof typeof StoreOutagePolicy]

/** Whether a fallback replaces a call that never ran, or one that ran and failed. */
export type FallbackKind = 'rejected' | 'failed'

/** What a fallback learns about the call it replaces. */
export interface FallbackContext {
  readonly circuitId: string
  /**
   * `'rejected'`: the function was not called (circuit open, probes busy, concurrency limit, or the
   * store unavailable under `fail-closed`); the error is ours. `'failed'`: the function was called
   * and failed in a way that counts (including `CallTimeoutError`); the error is its own.
   */
  readonly kind: FallbackKind
}

/**
 * Turns a rejection or a counted failure into a value. It is not called for errors the failure
 * classifier does not count (a 404, a validation error): those reach the caller unchanged.
 * Whatever it throws reaches the caller.
 *
 * One signature everywhere: the breaker's `fallback` option and the Middy middleware's take the
 * same function, `(error, context)`; the middleware's context adds the Middy `request`
 * (`TContext` extends {@link FallbackContext}), so a fallback written for the breaker also fits
 * the middleware.
 *
 * @example
 * ```ts
 * const fallback: Fallback<{ quote: null }> = (error, { circuitId, kind }) => {
 *   console.warn(`${circuitId}: ${kind}`, error)
 *   return { quote: null }
 * }
 * ```
 */
export type Fallback<TFallback, TContext extends FallbackContext = FallbackContext> = (
  error: unknown,
  context: TContext,
) => TFallback | Promise<TFallback>

/**
 * Options of {@link CircuitBreaker}. Every numeric option can also come from an environment
 * variable; an explicit option wins over the variable, which wins over the default.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({
 *   circuitId: 'payment-api',
 *   store: new DynamoDBStore({ tableName: 'circuit-breakers' }),
 *   failureThreshold: 5,
 *   callTimeoutMs: 2_000,
 *   fallback: () => ({ status: 'queued' }),
 * })
 * ```
 */
export interface CircuitBreakerOptions<TFallback = never> {
  /** Names the circuit; every breaker with the same id and store shares one state. Default: `AWS_LAMBDA_FUNCTION_NAME`. */
  readonly circuitId?: string
  /** Where the shared state lives: `MemoryStore`, or a DynamoDB or Redis store from `@fleet-breaker/storage`. */
  readonly store: CircuitStore
  /** Failures within `failureWindowMs` that open the circuit. Default 3. Env `CIRCUIT_BREAKER_FAILURE_THRESHOLD`. */
  readonly failureThreshold?: number
  /** How long failures keep counting, from the first failure of a window. Default 60 000. Env `CIRCUIT_BREAKER_FAILURE_WINDOW_MS`. */
  readonly failureWindowMs?: number
  /**
   * Trips on the fleet's failure rate instead of a failure count: the circuit opens when at least
   * this share (0 to 1) of the fleet's calls in `rateWindowMs` failed, once `minimumCalls` were made.
   * Setting it (or `slowCallRateThreshold`) chooses the failure-rate mode; every breaker of a circuit
   * must use the same mode. Default: none (the count mode). Env `CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD`.
   */
  readonly failureRateThreshold?: number
  /**
   * In the failure-rate mode, the share (0 to 1) of slow calls (`slowCallDurationMs`) that opens the
   * circuit. Default: none. Env `CIRCUIT_BREAKER_SLOW_CALL_RATE_THRESHOLD`.
   */
  readonly slowCallRateThreshold?: number
  /** Calls the fleet must have made in the window before a rate can open the circuit. Default 20. Env `CIRCUIT_BREAKER_MINIMUM_CALLS`. */
  readonly minimumCalls?: number
  /** The failure-rate window, from its first call. Default 60 000. Env `CIRCUIT_BREAKER_RATE_WINDOW_MS`. */
  readonly rateWindowMs?: number
  /**
   * In the failure-rate mode, how often an environment writes the counts it gathered (one write per
   * interval while there is traffic, none when idle; a failure that could open the circuit is
   * written at once). Default 1 000. Env `CIRCUIT_BREAKER_RATE_FLUSH_INTERVAL_MS`.
   */
  readonly rateFlushIntervalMs?: number
  /**
   * The circuit opens only when failures come from at least this many distinct environments in the
   * window (1 to 16), so one environment with a bad network path cannot open it for the whole fleet.
   * Default 1. Env `CIRCUIT_BREAKER_MIN_ENVIRONMENTS`.
   */
  readonly minEnvironments?: number
  /**
   * Names this environment for the `minEnvironments` quorum. Default: an id made once per process,
   * which is what a Lambda execution environment is; set it only to simulate several environments
   * in one process.
   */
  readonly environmentId?: string
  /** How long the circuit stays open the first time. Default 10 000. Env `CIRCUIT_BREAKER_RESET_TIMEOUT_MS`. */
  readonly resetTimeoutMs?: number
  /** Cap of the exponential backoff (`resetTimeoutMs × 2^n`). Default 300 000 (or `resetTimeoutMs`, if larger). Env `CIRCUIT_BREAKER_MAX_RESET_TIMEOUT_MS`. */
  readonly maxResetTimeoutMs?: number
  /** Successful probes that close a half-open circuit. Default 1. Env `CIRCUIT_BREAKER_HALF_OPEN_SUCCESS_THRESHOLD`. */
  readonly halfOpenSuccessThreshold?: number
  /** Probes allowed at once across the whole fleet (1 to 16). Default 1. Env `CIRCUIT_BREAKER_HALF_OPEN_MAX_PROBES`. */
  readonly halfOpenMaxProbes?: number
  /** How long a probe's lease lasts before another environment may take its slot. Default, with `callTimeoutMs`: the time to decide (at most three store calls), the call, and a second (`callTimeoutMs` + 3 × `storeTimeoutMs` + 1 000); else `resetTimeoutMs`, and a probe running longer lets a second one in. Env `CIRCUIT_BREAKER_PROBE_LEASE_MS`. */
  readonly probeLeaseMs?: number
  /**
   * Calls in flight at once on this breaker instance, a bulkhead for this environment
   * (`Infinity` for no limit). Default `Infinity`: an environment on Lambda Managed Instances runs
   * dozens of invocations at once, and a limit only belongs where the downstream needs one.
   * Env `CIRCUIT_BREAKER_MAX_CONCURRENT`.
   */
  readonly maxConcurrent?: number
  /** Calls that may wait for a free slot beyond `maxConcurrent` (`Infinity` for no limit). Default 100. Env `CIRCUIT_BREAKER_MAX_QUEUED`. */
  readonly maxQueued?: number
  /**
   * How long a call waits in the queue for a free slot before it is rejected with
   * `ConcurrencyLimitError`, so that a slot that is never given back cannot hold calls forever.
   * Default 1 000. Env `CIRCUIT_BREAKER_MAX_QUEUE_WAIT_MS`.
   */
  readonly maxQueueWaitMs?: number
  /** Aborts a call that runs longer and counts a timeout; at most 2³¹ − 1 (a Node.js timer's longest). Default: none. Env `CIRCUIT_BREAKER_CALL_TIMEOUT_MS`. */
  readonly callTimeoutMs?: number
  /**
   * A call that succeeds but takes at least this long counts as a failure: a slow downstream is the
   * commonest way a Lambda fleet exhausts its concurrency. Default: none. Env `CIRCUIT_BREAKER_SLOW_CALL_DURATION_MS`.
   */
  readonly slowCallDurationMs?: number
  /**
   * With a Lambda context (or a deadline) passed to `execute()`, how long before the invocation's
   * end a call still running is aborted and counted as a failure, so the outcome is recorded before
   * Lambda stops the environment. Default 500. Env `CIRCUIT_BREAKER_DEADLINE_MARGIN_MS`.
   */
  readonly deadlineMarginMs?: number
  /**
   * After the circuit closes, each environment admits a share of calls rising from 0 to all over
   * this long (the rest are rejected with `reason: 'ramping'`, or get the fallback), so a recovered
   * downstream is not hit by the whole fleet at once. Timed from the close in the shared record.
   * Default 0 (no ramp). Env `CIRCUIT_BREAKER_RAMP_UP_MS`.
   */
  readonly rampUpMs?: number
  /** How long an environment trusts a state it read without asking again (0 disables the cache); also the bound on how long an operator's change takes to reach it. Default 5 000. Env `CIRCUIT_BREAKER_CACHE_TTL_MS`. */
  readonly cacheTtlMs?: number
  /** Deadline of every store call. Default 500. Env `CIRCUIT_BREAKER_STORE_TIMEOUT_MS`. */
  readonly storeTimeoutMs?: number
  /** What to do while the store cannot be reached. Default `'fail-open'`. Env `CIRCUIT_BREAKER_STORE_OUTAGE`. */
  readonly storeOutage?: StoreOutagePolicy
  /** After a failed store read, how long to apply the outage policy before asking the store again (a failed write does not skip reads). Default 1 000. Env `CIRCUIT_BREAKER_STORE_RETRY_INTERVAL_MS`. */
  readonly storeRetryIntervalMs?: number
  /** Which thrown errors count as failures. Default {@link isServiceFailure}. */
  readonly isFailure?: (error: unknown) => boolean
  /**
   * Which returned values count as failures. Default {@link isServiceFailureResponse}. The Middy
   * middleware takes the same option under the same name, for the handler's response.
   */
  readonly isFailureResult?: (result: unknown) => boolean
  /** Turns a rejection or a counted failure into a value; see {@link Fallback}. */
  readonly fallback?: Fallback<TFallback>
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  readonly now?: () => number
  /** Where warnings go. Default {@link jsonConsoleLogger}. */
  readonly logger?: Logger
  // ---- health-checked circuits (see live-probes.ts) ----
  /**
   * `false`: live calls are never probes. An OPEN circuit waits for a scheduled health check (the
   * `healthCheckHandler` of `@fleet-breaker/lambda`) to close it, so no user request is the one
   * that tests a recovering downstream; live probes resume only when the circuit has been due for
   * a retry for `healthCheckIntervalMs × missedChecks` without a check deciding it (the checker
   * stopped). Default `true`. Env `CIRCUIT_BREAKER_LIVE_PROBES` (`true` or `false`).
   */
  readonly liveProbes?: boolean
  /** How often the health check runs (its schedule). Default 60 000. Env `CIRCUIT_BREAKER_HEALTH_CHECK_INTERVAL_MS`. */
  readonly healthCheckIntervalMs?: number
  /** Check intervals missed before live probes resume under `liveProbes: false`. Default 3. Env `CIRCUIT_BREAKER_MISSED_CHECKS`. */
  readonly missedChecks?: number
  // ---- shadow mode (see shadow.ts) ----
  /**
   * Shadow mode: the breaker decides and records exactly as usual, but lets through every call it
   * would have rejected, logging it as "would reject" (rate-limited). For rolling the breaker out
   * and tuning thresholds without risk. An operator's force-open still rejects. Operators can also
   * switch it on fleet-wide, per circuit (`CircuitAdmin.setShadow`). Default `false`.
   * Env `CIRCUIT_BREAKER_SHADOW` (`true` or `false`).
   */
  readonly shadow?: boolean
  // ---- observers and metrics (see observe/) ----
  /** Told of state changes, rejections, probes, counted failures and store health; see {@link BreakerObserver}. */
  readonly observers?: readonly BreakerObserver[]
  /**
   * A Powertools `Metrics` instance (`@aws-lambda-powertools/metrics`): the breaker emits its
   * metrics through it in EMF, with the dimensions `service` and `circuitId` (see the core README).
   */
  readonly metrics?: PowertoolsMetricsLike
}

/** Every option with its final value. */
export interface ResolvedOptions {
  readonly circuitId: string
  readonly store: CircuitStore
  readonly failureThreshold: number
  readonly failureWindowMs: number
  readonly failureRateThreshold: number | undefined
  readonly slowCallRateThreshold: number | undefined
  readonly minimumCalls: number
  readonly rateWindowMs: number
  readonly rateFlushIntervalMs: number
  readonly minEnvironments: number
  readonly environmentId: string
  readonly resetTimeoutMs: number
  readonly maxResetTimeoutMs: number
  readonly halfOpenSuccessThreshold: number
  readonly halfOpenMaxProbes: number
  readonly probeLeaseMs: number
  readonly maxConcurrent: number
  readonly maxQueued: number
  readonly maxQueueWaitMs: number
  readonly callTimeoutMs: number | undefined
  readonly slowCallDurationMs: number | undefined
  readonly deadlineMarginMs: number
  readonly rampUpMs: number
  readonly cacheTtlMs: number
  readonly storeTimeoutMs: number
  readonly storeOutage: StoreOutagePolicy
  readonly storeRetryIntervalMs: number
  readonly isFailure: (error: unknown) => boolean
  readonly isFailureResult: (result: unknown) => boolean
  readonly now: () => number
  readonly logger: Logger
  /** `observers`, then the adapter of `metrics` if set. */
  readonly observers: readonly BreakerObserver[]
  readonly liveProbes: boolean
  readonly healthCheckIntervalMs: number
  readonly missedChecks: number
  readonly shadow: boolean
}

/** The environment variable behind each numeric option. */
export const ENVIRONMENT_VARIABLES = {
  failureThreshold: 'CIRCUIT_BREAKER_FAILURE_THRESHOLD',
  failureWindowMs: 'CIRCUIT_BREAKER_FAILURE_WINDOW_MS',
  minimumCalls: 'CIRCUIT_BREAKER_MINIMUM_CALLS',
  rateWindowMs: 'CIRCUIT_BREAKER_RATE_WINDOW_MS',
  rateFlushIntervalMs: 'CIRCUIT_BREAKER_RATE_FLUSH_INTERVAL_MS',
  minEnvironments: 'CIRCUIT_BREAKER_MIN_ENVIRONMENTS',
  resetTimeoutMs: 'CIRCUIT_BREAKER_RESET_TIMEOUT_MS',
  maxResetTimeoutMs: 'CIRCUIT_BREAKER_MAX_RESET_TIMEOUT_MS',
  halfOpenSuccessThreshold: 'CIRCUIT_BREAKER_HALF_OPEN_SUCCESS_THRESHOLD',
  halfOpenMaxProbes: 'CIRCUIT_BREAKER_HALF_OPEN_MAX_PROBES',
  probeLeaseMs: 'CIRCUIT_BREAKER_PROBE_LEASE_MS',
  maxConcurrent: 'CIRCUIT_BREAKER_MAX_CONCURRENT',
  maxQueued: 'CIRCUIT_BREAKER_MAX_QUEUED',
  maxQueueWaitMs: 'CIRCUIT_BREAKER_MAX_QUEUE_WAIT_MS',
  callTimeoutMs: 'CIRCUIT_BREAKER_CALL_TIMEOUT_MS',
  slowCallDurationMs: 'CIRCUIT_BREAKER_SLOW_CALL_DURATION_MS',
  deadlineMarginMs: 'CIRCUIT_BREAKER_DEADLINE_MARGIN_MS',
  rampUpMs: 'CIRCUIT_BREAKER_RAMP_UP_MS',
  cacheTtlMs: 'CIRCUIT_BREAKER_CACHE_TTL_MS',
  storeTimeoutMs: 'CIRCUIT_BREAKER_STORE_TIMEOUT_MS',
  storeRetryIntervalMs: 'CIRCUIT_BREAKER_STORE_RETRY_INTERVAL_MS',
  healthCheckIntervalMs: 'CIRCUIT_BREAKER_HEALTH_CHECK_INTERVAL_MS',
  missedChecks: 'CIRCUIT_BREAKER_MISSED_CHECKS',
} as const

const STORE_OUTAGE_VARIABLE = 'CIRCUIT_BREAKER_STORE_OUTAGE'
// Read when a variable is checked, once every constant of this module exists.
registerEnvironmentVariables(() => [
  ...Object.values(ENVIRONMENT_VARIABLES),
  ...Object.values(FRACTION_VARIABLES),
  STORE_OUTAGE_VARIABLE,
])

/** The options that are shares from 0 to 1, with their environment variables. */
const FRACTION_VARIABLES = {
  failureRateThreshold: 'CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD',
  slowCallRateThreshold: 'CIRCUIT_BREAKER_SLOW_CALL_RATE_THRESHOLD',
} as const

/** The defaults of the numeric options that have a fixed default. */
export const DEFAULTS = {
  failureThreshold: 3,
  failureWindowMs: 60_000,
  minimumCalls: 20,
  rateWindowMs: 60_000,
  rateFlushIntervalMs: 1_000,
  minEnvironments: 1,
  resetTimeoutMs: 10_000,
  maxResetTimeoutMs: 300_000,
  halfOpenSuccessThreshold: 1,
  halfOpenMaxProbes: 1,
  maxConcurrent: Number.POSITIVE_INFINITY,
  maxQueued: 100,
  maxQueueWaitMs: 1_000,
  cacheTtlMs: 5_000,
  storeTimeoutMs: 500,
  storeRetryIntervalMs: 1_000,
  deadlineMarginMs: 500,
  rampUpMs: 0,
  healthCheckIntervalMs: 60_000,
  missedChecks: 3,
} as const

/** Most probe slots a circuit can have; stores keep one small field pair per slot. */
export const MAX_PROBE_SLOTS = 16

/** Longest circuit id accepted (DynamoDB and Redis keys stay comfortably within their limits). */
export const MAX_CIRCUIT_ID_LENGTH = 512

/**
 * A UTF-16 surrogate without its pair. Stores encode ids as UTF-8, where every lone surrogate
 * becomes the same replacement character: two such ids would share one circuit.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

type NumericOption = keyof typeof ENVIRONMENT_VARIABLES
type Environment = Readonly<Record<string, string | undefined>>

interface Range {
  readonly min: number
  readonly max?: number
  readonly allowInfinity?: boolean
}

function describeRange(range: Range): string {
  const upper = range.max === undefined ? 'or more' : `to ${range.max}`
  const infinity = range.allowInfinity === true ? ' (or Infinity)' : ''
  return `an integer of ${range.min} ${upper}${infinity}`
}

function checkNumber(name: string, value: unknown, range: Range): number {
  const valid =
    typeof value === 'number' &&
    ((range.allowInfinity === true && value === Number.POSITIVE_INFINITY) ||
      (Number.isInteger(value) && value >= range.min && (range.max === undefined || value <= range.max)))
  if (!valid) throw new InvalidConfigurationError(name, value, describeRange(range))
  return value
}

/**
 * The value of a numeric option: explicit, else from its environment variable, else `undefined`.
 * A variable that is set but does not parse is an error naming the variable.
 */
function numericOption(
  options: CircuitBreakerOptions<unknown>,
  env: Environment,
  option: NumericOption,
  range: Range,
): number | undefined {
  const explicit = options[option]
  if (explicit !== undefined) return checkNumber(option, explicit, range)
  const variable = ENVIRONMENT_VARIABLES[option]
  const raw = env[variable]
  if (raw === undefined || raw.trim() === '') return undefined
  const parsed = raw.trim() === 'Infinity' ? Number.POSITIVE_INFINITY : /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN
  if (Number.isNaN(parsed)) throw new InvalidConfigurationError(variable, raw, describeRange(range))
  return checkNumber(variable, parsed, range)
}

/** A share above 0 and at most 1: explicit, else from its environment variable, else `undefined`. */
function fractionOption(
  options: CircuitBreakerOptions<unknown>,
  env: Environment,
  option: keyof typeof FRACTION_VARIABLES,
): number | undefined {
  const expected = 'a number above 0 and at most 1'
  const explicit = options[option]
  const variable = FRACTION_VARIABLES[option]
  const raw = env[variable]
  const name = explicit === undefined ? variable : option
  const value: unknown = explicit ?? (raw === undefined || raw.trim() === '' ? undefined : Number(raw.trim()))
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InvalidConfigurationError(name, explicit ?? raw, expected)
  }
  return value
}

function checkEnvironmentId(environmentId: unknown): string {
  if (environmentId === undefined) return ENVIRONMENT_ID
  if (!isOpId(environmentId)) {
    throw new InvalidConfigurationError('environmentId', environmentId, 'up to 64 printable characters without spaces')
  }
  return environmentId
}

function resolveCircuitId(options: CircuitBreakerOptions<unknown>, env: Environment): string {
  const circuitId = options.circuitId ?? env.AWS_LAMBDA_FUNCTION_NAME
  const name = options.circuitId === undefined ? 'circuitId (from AWS_LAMBDA_FUNCTION_NAME)' : 'circuitId'
  if (
    typeof circuitId !== 'string' ||
    circuitId.trim() === '' ||
    circuitId.length > MAX_CIRCUIT_ID_LENGTH ||
    LONE_SURROGATE.test(circuitId)
  ) {
    throw new InvalidConfigurationError(
      name,
      circuitId,
      `a non-blank, well-formed string of at most ${MAX_CIRCUIT_ID_LENGTH} characters`,
    )
  }
  return circuitId
}

function resolveStoreOutage(options: CircuitBreakerOptions<unknown>, env: Environment): StoreOutagePolicy {
  const name = options.storeOutage === undefined ? STORE_OUTAGE_VARIABLE : 'storeOutage'
  const value: unknown = options.storeOutage ?? env[STORE_OUTAGE_VARIABLE] ?? StoreOutagePolicy.FAIL_OPEN
  if (value === StoreOutagePolicy.FAIL_OPEN || value === StoreOutagePolicy.FAIL_CLOSED) return value
  throw new InvalidConfigurationError(
    name,
    value,
    `"${StoreOutagePolicy.FAIL_OPEN}" or "${StoreOutagePolicy.FAIL_CLOSED}"`,
  )
}

function checkFunction<T>(name: string, value: T | undefined, fallback: T): T {
  if (value === undefined) return fallback
  if (typeof value !== 'function') throw new InvalidConfigurationError(name, value, 'a function')
  return value
}

function checkStore(store: unknown): CircuitStore {
  const required = ['get', 'addFailure', 'transition', 'acquireProbe', 'completeProbe', 'setForced', 'reset'] as const
  const valid =
    typeof store === 'object' &&
    store !== null &&
    required.every((method) => typeof (store as Record<string, unknown>)[method] === 'function')
  if (!valid)
    throw new InvalidConfigurationError('store', store, 'a CircuitStore (MemoryStore, DynamoDBStore, RedisStore, ...)')
  return store as CircuitStore
}

function checkLogger(logger: unknown): Logger {
  if (logger === undefined) return jsonConsoleLogger
  const valid =
    typeof logger === 'object' &&
    logger !== null &&
    (['debug', 'info', 'warn', 'error'] as const).every(
      (level) => typeof (logger as Record<string, unknown>)[level] === 'function',
    )
  if (!valid)
    throw new InvalidConfigurationError('logger', logger, 'an object with debug, info, warn and error methods')
  return logger as Logger
}

/**
 * Validates options and fills in environment variables and defaults. Throws
 * {@link InvalidConfigurationError} naming the first invalid option.
 *
 * @example
 * ```ts
 * resolveOptions({ circuitId: 'payment-api', store }, process.env).failureThreshold // 3, or CIRCUIT_BREAKER_FAILURE_THRESHOLD
 * ```
 */
export function resolveOptions(
  options: CircuitBreakerOptions<unknown>,
  env: Environment = process.env,
): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidConfigurationError('options', options, 'an object')
  }
  // A misspelt variable would otherwise be ignored in silence (see misspelt-variables.ts).
  warnAboutMisspeltVariables(env, (options.logger as Logger | undefined) ?? jsonConsoleLogger)
  const positive: Range = { min: 1 }
  const resetTimeoutMs = numericOption(options, env, 'resetTimeoutMs', positive) ?? DEFAULTS.resetTimeoutMs
  const maxResetTimeoutMs =
    numericOption(options, env, 'maxResetTimeoutMs', { min: resetTimeoutMs }) ??
    Math.max(DEFAULTS.maxResetTimeoutMs, resetTimeoutMs)
  // No longer than a Node.js timer counts (2³¹ − 1 ms, about 24.8 days): a longer delay fires at once.
  const callTimeoutMs = numericOption(options, env, 'callTimeoutMs', { min: 1, max: 2 ** 31 - 1 })
  const storeTimeoutMs = numericOption(options, env, 'storeTimeoutMs', positive) ?? DEFAULTS.storeTimeoutMs
  const fallback: unknown = options.fallback
  if (fallback !== undefined && typeof fallback !== 'function') {
    throw new InvalidConfigurationError('fallback', fallback, 'a function')
  }
  return {
    circuitId: resolveCircuitId(options, env),
    store: checkStore(options.store),
    failureThreshold: numericOption(options, env, 'failureThreshold', positive) ?? DEFAULTS.failureThreshold,
    failureWindowMs: numericOption(options, env, 'failureWindowMs', positive) ?? DEFAULTS.failureWindowMs,
    failureRateThreshold: fractionOption(options, env, 'failureRateThreshold'),
    slowCallRateThreshold: fractionOption(options, env, 'slowCallRateThreshold'),
    minimumCalls: numericOption(options, env, 'minimumCalls', positive) ?? DEFAULTS.minimumCalls,
    rateWindowMs: numericOption(options, env, 'rateWindowMs', positive) ?? DEFAULTS.rateWindowMs,
    rateFlushIntervalMs: numericOption(options, env, 'rateFlushIntervalMs', { min: 0 }) ?? DEFAULTS.rateFlushIntervalMs,
    minEnvironments:
      numericOption(options, env, 'minEnvironments', { min: 1, max: MAX_FAILING_ENVIRONMENTS }) ??
      DEFAULTS.minEnvironments,
    environmentId: checkEnvironmentId(options.environmentId),
    resetTimeoutMs,
    maxResetTimeoutMs,
    halfOpenSuccessThreshold:
      numericOption(options, env, 'halfOpenSuccessThreshold', positive) ?? DEFAULTS.halfOpenSuccessThreshold,
    halfOpenMaxProbes:
      numericOption(options, env, 'halfOpenMaxProbes', { min: 1, max: MAX_PROBE_SLOTS }) ?? DEFAULTS.halfOpenMaxProbes,
    probeLeaseMs:
      numericOption(options, env, 'probeLeaseMs', positive) ??
      (callTimeoutMs === undefined ? resetTimeoutMs : callTimeoutMs + 3 * storeTimeoutMs + 1_000),
    maxConcurrent:
      numericOption(options, env, 'maxConcurrent', { min: 1, allowInfinity: true }) ?? DEFAULTS.maxConcurrent,
    maxQueued: numericOption(options, env, 'maxQueued', { min: 0, allowInfinity: true }) ?? DEFAULTS.maxQueued,
    maxQueueWaitMs: numericOption(options, env, 'maxQueueWaitMs', positive) ?? DEFAULTS.maxQueueWaitMs,
    callTimeoutMs,
    slowCallDurationMs: numericOption(options, env, 'slowCallDurationMs', positive),
    deadlineMarginMs: numericOption(options, env, 'deadlineMarginMs', { min: 0 }) ?? DEFAULTS.deadlineMarginMs,
    rampUpMs: numericOption(options, env, 'rampUpMs', { min: 0 }) ?? DEFAULTS.rampUpMs,
    cacheTtlMs: numericOption(options, env, 'cacheTtlMs', { min: 0 }) ?? DEFAULTS.cacheTtlMs,
    storeTimeoutMs,
    storeOutage: resolveStoreOutage(options, env),
    storeRetryIntervalMs:
      numericOption(options, env, 'storeRetryIntervalMs', { min: 0 }) ?? DEFAULTS.storeRetryIntervalMs,
    isFailure: checkFunction('isFailure', options.isFailure, isServiceFailure),
    isFailureResult: checkFunction('isFailureResult', options.isFailureResult, isServiceFailureResponse),
    now: checkFunction('now', options.now, Date.now),
    logger: checkLogger(options.logger),
    observers: resolveObservers(options, resolveCircuitId(options, env)),
    liveProbes: resolveLiveProbes(options, env),
    healthCheckIntervalMs:
      numericOption(options, env, 'healthCheckIntervalMs', positive) ?? DEFAULTS.healthCheckIntervalMs,
    missedChecks: numericOption(options, env, 'missedChecks', { min: 1, max: 1_000 }) ?? DEFAULTS.missedChecks,
    shadow: resolveShadow(options, env),
  }
}

const SHADOW_VARIABLE = 'CIRCUIT_BREAKER_SHADOW'

/** `shadow`: explicit, else `CIRCUIT_BREAKER_SHADOW` (`true` / `false`), else `false`. */
function resolveShadow(options: CircuitBreakerOptions<unknown>, env: Environment): boolean {
  const explicit: unknown = options.shadow
  if (explicit !== undefined) {
    if (typeof explicit !== 'boolean') throw new InvalidConfigurationError('shadow', explicit, 'true or false')
    return explicit
  }
  const raw = env[SHADOW_VARIABLE]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return false
  if (raw === 'true' || raw === 'false') return raw === 'true'
  throw new InvalidConfigurationError(SHADOW_VARIABLE, env[SHADOW_VARIABLE], '"true" or "false"')
}

const LIVE_PROBES_VARIABLE = 'CIRCUIT_BREAKER_LIVE_PROBES'

/** `liveProbes`: explicit, else `CIRCUIT_BREAKER_LIVE_PROBES` (`true` / `false`), else `true`. */
function resolveLiveProbes(options: CircuitBreakerOptions<unknown>, env: Environment): boolean {
  const explicit: unknown = options.liveProbes
  if (explicit !== undefined) {
    if (typeof explicit !== 'boolean') throw new InvalidConfigurationError('liveProbes', explicit, 'true or false')
    return explicit
  }
  const raw = env[LIVE_PROBES_VARIABLE]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return true
  if (raw === 'true' || raw === 'false') return raw === 'true'
  throw new InvalidConfigurationError(LIVE_PROBES_VARIABLE, env[LIVE_PROBES_VARIABLE], '"true" or "false"')
}
