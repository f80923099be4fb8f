import { parseDuration } from './duration.js'
import { CliError, UsageError } from './errors.js'

/** The longest `--timeout`: a day, well inside what a Node.js timer can wait. */
export const MAX_TIMEOUT_MS = 86_400_000

/**
 * Reads `--timeout`: a duration as the other options take it, from 1ms to 24h. Anything else is a
 * {@link UsageError} naming the option and the value, raised while the command line is parsed, so
 * nothing is asked or sent first.
 *
 * @example
 * ```ts
 * parseTimeout('1500ms') // 1_500
 * ```
 */
export function parseTimeout(value: string): number {
  const expected = `--timeout must be a duration from 1ms to 24h, such as 30s, 2m or 1500ms; received "${value}"`
  let timeoutMs: number
  try {
    timeoutMs = parseDuration(value, '--timeout')
  } catch (error) {
    throw new UsageError(expected, { cause: error })
  }
  if (timeoutMs > MAX_TIMEOUT_MS) throw new UsageError(expected)
  return timeoutMs
}

/**
 * Writes `ms` exactly, in the form `--timeout` takes: `2s`, `1s500ms`, `1m30s`. (Display durations
 * round to two units; a limit the operator set is shown as set.)
 */
export function exactDuration(ms: number): string {
  const units: readonly [string, number][] = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ]
  let rest = ms
  let text = ''
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size)
    if (count > 0) text += `${count}${unit}`
    rest -= count * size
  }
  return text === '' ? '0ms' : text
}

/**
 * The command did not finish within `--timeout` (exit code 1). Its message names the store it was
 * talking to and what to check.
 */
export class CommandTimeoutError extends CliError {
  readonly timeoutMs: number

  constructor(timeoutMs: number, target: string, hint: string) {
    super(
      `no answer from ${target} within --timeout ${exactDuration(timeoutMs)}: ${hint}, or give the command a longer --timeout`,
    )
    this.name = 'CommandTimeoutError'
    this.timeoutMs = timeoutMs
  }
}

/**
 * Runs `work`, failing with `timedOut()` once `timeoutMs` has passed; without a limit, simply runs
 * it. The work is not stopped (it holds sockets the caller closes); its later outcome is ignored.
 */
export async function within<T>(
  timeoutMs: number | undefined,
  work: () => Promise<T>,
  timedOut: () => Error,
): Promise<T> {
  if (timeoutMs === undefined) return work()
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timedOut()), timeoutMs)
  })
  try {
    return await Promise.race([work(), expired])
  } finally {
    clearTimeout(timer)
  }
}
