/*
 * Errors carry a brand under a registry symbol rather than relying on `instanceof`, as the core
 * package's do, so the guards hold when two copies of this package end up in one install.
 */
const BRAND = Symbol.for('fleet-breaker.cli-error')

/** The exit codes of the `fleet-breaker` command. */
export const ExitCode = {
  /** The command did what it was asked. */
  DONE: 0,
  /** The command could not do it: an unknown circuit, a store that cannot be reached, a missing table. */
  FAILED: 1,
  /** The command line itself is wrong: an unknown option, a bad duration, a missing argument. */
  USAGE: 2,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/**
 * An error the command reports as one line, naming what to fix, and ends with `exitCode`.
 *
 * @example
 * ```ts
 * throw new CliError('unknown circuit "paymnet-api": `fleet-breaker list` shows the circuits in the store')
 * ```
 */
export class CliError extends Error {
  readonly exitCode: ExitCode

  constructor(message: string, options: { exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CliError'
    this.exitCode = options.exitCode ?? ExitCode.FAILED
    Object.defineProperty(this, BRAND, { value: true, enumerable: false })
  }
}

/**
 * A wrong command line (exit code 2).
 *
 * @example
 * ```ts
 * throw new UsageError('--for must be a duration such as 30m, 1h30m or 90s; received "5x"')
 * ```
 */
export class UsageError extends CliError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: ExitCode.USAGE })
    this.name = 'UsageError'
  }
}

/**
 * Whether `error` is a {@link CliError} (a {@link UsageError} included), from any copy of this package.
 *
 * @example
 * ```ts
 * catch (error) { if (isCliError(error)) process.exitCode = error.exitCode }
 * ```
 */
export function isCliError(error: unknown): error is CliError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true
}
