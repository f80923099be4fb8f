import { InvalidConfigurationError } from '@fleet-breaker/core'

/** The environment variables that configure the extension itself (the breaker's own are `CIRCUIT_BREAKER_*`). */
export const EXTENSION_ENVIRONMENT_VARIABLES = {
  /** The loopback port the HTTP API listens on. Default 4243 (the port circuitbreaker-lambda uses); 0 picks a free one (logged at registration). */
  PORT: 'CIRCUIT_BREAKER_EXTENSION_PORT',
  /** Most circuits one environment keeps a breaker for. Default 256. */
  MAX_CIRCUITS: 'CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS',
  /** Most permits (and pending checks) outstanding at once. Default 1 024. */
  MAX_PERMITS: 'CIRCUIT_BREAKER_EXTENSION_MAX_PERMITS',
  /** `true` enables `force-open`, `force-close`, `clear` and `reset` over HTTP. Default off. */
  ADMIN: 'CIRCUIT_BREAKER_EXTENSION_ADMIN',
  /** When set, every request but `GET /health` must carry it in the `X-Fleet-Breaker-Token` header. */
  TOKEN: 'CIRCUIT_BREAKER_EXTENSION_TOKEN',
  /** The longest a permit may stay unsettled when no invocation ends it. Default 900 000 (15 minutes). */
  PERMIT_TTL_MS: 'CIRCUIT_BREAKER_EXTENSION_PERMIT_TTL_MS',
  /** `debug`, `info` (default), `warn` or `error`. */
  LOG_LEVEL: 'CIRCUIT_BREAKER_EXTENSION_LOG_LEVEL',
} as const

/** The log levels, quietest last. */
export const LogLevel = { DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel]

/** The extension's settings, after defaults. */
export interface ExtensionConfig {
  readonly port: number
  readonly maxCircuits: number
  readonly maxPermits: number
  readonly adminEnabled: boolean
  readonly token: string | undefined
  readonly permitTtlMs: number
  readonly logLevel: LogLevel
  /**
   * Invocations the environment may run at once: Lambda Managed Instances set
   * `AWS_LAMBDA_MAX_CONCURRENCY`; 1 elsewhere.
   */
  readonly maxConcurrency: number
}

export const EXTENSION_DEFAULTS = {
  port: 4243,
  maxCircuits: 256,
  maxPermits: 1_024,
  permitTtlMs: 900_000,
  logLevel: LogLevel.INFO,
} as const

type Environment = Readonly<Record<string, string | undefined>>

function integer(env: Environment, variable: string, fallback: number, min: number, max: number): number {
  const raw = env[variable]?.trim()
  if (raw === undefined || raw === '') return fallback
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidConfigurationError(variable, env[variable], `an integer from ${min} to ${max}`)
  }
  return value
}

function flag(env: Environment, variable: string): boolean {
  const raw = env[variable]?.trim().toLowerCase()
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false
  if (raw === 'true' || raw === '1') return true
  throw new InvalidConfigurationError(variable, env[variable], '"true" or "false"')
}

function token(env: Environment): string | undefined {
  const raw = env[EXTENSION_ENVIRONMENT_VARIABLES.TOKEN]
  if (raw === undefined || raw === '') return undefined
  // A header value: visible ASCII only, and long enough not to be guessed.
  if (!/^[\x21-\x7e]{16,256}$/.test(raw)) {
    throw new InvalidConfigurationError(
      EXTENSION_ENVIRONMENT_VARIABLES.TOKEN,
      '(hidden)',
      'from 16 to 256 visible ASCII characters',
    )
  }
  return raw
}

function logLevel(env: Environment): LogLevel {
  const raw = env[EXTENSION_ENVIRONMENT_VARIABLES.LOG_LEVEL]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return EXTENSION_DEFAULTS.logLevel
  const levels: readonly string[] = Object.values(LogLevel)
  if (!levels.includes(raw)) {
    throw new InvalidConfigurationError(
      EXTENSION_ENVIRONMENT_VARIABLES.LOG_LEVEL,
      env[EXTENSION_ENVIRONMENT_VARIABLES.LOG_LEVEL],
      `one of ${levels.join(', ')}`,
    )
  }
  return raw as LogLevel
}

/**
 * Reads the extension's settings from the environment. Throws `InvalidConfigurationError` naming
 * the variable and the value received.
 *
 * @example
 * ```ts
 * import { readExtensionConfig } from '@fleet-breaker/extension'
 *
 * const { port } = readExtensionConfig({ CIRCUIT_BREAKER_EXTENSION_PORT: '4243' })
 * ```
 */
export function readExtensionConfig(env: Environment = process.env): ExtensionConfig {
  const vars = EXTENSION_ENVIRONMENT_VARIABLES
  return {
    port: integer(env, vars.PORT, EXTENSION_DEFAULTS.port, 0, 65_535),
    maxCircuits: integer(env, vars.MAX_CIRCUITS, EXTENSION_DEFAULTS.maxCircuits, 1, 100_000),
    maxPermits: integer(env, vars.MAX_PERMITS, EXTENSION_DEFAULTS.maxPermits, 1, 1_000_000),
    adminEnabled: flag(env, vars.ADMIN),
    token: token(env),
    permitTtlMs: integer(env, vars.PERMIT_TTL_MS, EXTENSION_DEFAULTS.permitTtlMs, 1_000, 86_400_000),
    logLevel: logLevel(env),
    maxConcurrency: maxConcurrency(env),
  }
}

/** Lambda's own variable: a value it did not write (absent, malformed) means one invocation at a time. */
function maxConcurrency(env: Environment): number {
  const raw = env.AWS_LAMBDA_MAX_CONCURRENCY?.trim() ?? ''
  const value = /^\d{1,6}$/.test(raw) ? Number(raw) : 1
  return Math.max(1, value)
}
