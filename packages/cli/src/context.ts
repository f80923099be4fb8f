import { MAX_CIRCUIT_ID_LENGTH } from '@fleet-breaker/core'
import { AdminControl } from './admin-control.js'
import {
  chooseStore,
  closeStores,
  dropWarnings,
  flushWarnings,
  openStore,
  reachHint,
  type StoreConnection,
  type StoreSelection,
  stderrLogger,
  storeProblem,
} from './connection.js'
import type { CircuitControl, CircuitStatus } from './control.js'
import { CliError, isCliError, UsageError } from './errors.js'
import { type Colors, colorsFor } from './output.js'
import { CommandTimeoutError, within } from './timeout.js'

/** The options every command accepts (defined once, on the program). */
export interface GlobalOptions extends StoreSelection {
  readonly json?: boolean
  /** `--timeout` in milliseconds, checked as the command line was read. */
  readonly timeout?: number
}

/** What a command runs with. */
export interface CommandContext {
  readonly control: CircuitControl
  readonly connection: StoreConnection
  readonly colors: Colors
  readonly json: boolean
  readonly now: () => number
  /**
   * Runs one step under `--timeout` when the limit applies to each step (`watch`'s refreshes);
   * otherwise the command is bounded as a whole and the step simply runs.
   */
  readonly bounded: <R>(step: () => Promise<R>) => Promise<R>
}

/**
 * What `--timeout` bounds: the whole command, from connecting to its last answer (the default), or
 * connecting and then each step apart, for a command that runs until stopped (`watch`).
 */
export type TimeoutScope = 'command' | 'step'

/**
 * Connects to the store, runs `command`, and closes the connection, all within `--timeout` when
 * one is given. A store failure becomes one line naming what to fix (see {@link storeProblem}).
 */
export async function withControl<T>(
  options: GlobalOptions,
  command: (context: CommandContext) => Promise<T>,
  scope: TimeoutScope = 'command',
): Promise<T> {
  const choice = chooseStore(options)
  const timeoutMs = options.timeout
  const bound = <R>(step: () => Promise<R>): Promise<R> =>
    within(timeoutMs, step, () => new CommandTimeoutError(timeoutMs ?? 0, choice.target, reachHint(choice.kind)))
  let control: AdminControl | undefined
  let timedOut = false
  const connectAndRun = async (): Promise<T> => {
    const connection = await (scope === 'step' ? bound(() => openStore(choice)) : openStore(choice))
    // A store that opens after the command gave up gets no command: nothing is sent after the error.
    if (timedOut) throw new CliError('the command was stopped by --timeout before its store was open')
    const opened = new AdminControl({ store: connection.store, logger: stderrLogger, close: () => connection.close() })
    control = opened
    try {
      const result = await command({
        control: opened,
        connection,
        colors: colorsFor(process.stdout),
        json: options.json === true,
        now: Date.now,
        bounded: scope === 'step' ? bound : (step) => step(),
      })
      flushWarnings()
      return result
    } catch (error) {
      dropWarnings()
      throw isCliError(error) ? error : storeProblem(error, connection)
    }
  }
  try {
    return await (scope === 'command' ? bound(connectAndRun) : connectAndRun())
  } catch (error) {
    if (error instanceof CommandTimeoutError) {
      timedOut = true
      dropWarnings()
    }
    throw error
  } finally {
    // A closed control refuses answers that arrive later, so a timed-out command prints nothing more.
    const closing = control?.close() ?? closeStores()
    // After a timeout the connections may still wait on the store (a connection attempt runs to its
    // own timeout): closing is started, not waited for, so the command ends within its limit.
    if (timedOut) closing.catch(() => {})
    else await closing
  }
}

/** Checks circuit ids before anything is sent: the same rules as the breaker's `circuitId`. */
export function checkCircuitIds(ids: readonly string[]): string[] {
  for (const id of ids) {
    if (
      id.trim() === '' ||
      id.length > MAX_CIRCUIT_ID_LENGTH ||
      /[\uD800-\uDFFF]/.test(id.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))
    ) {
      throw new UsageError(`circuit id must be 1 to ${MAX_CIRCUIT_ID_LENGTH} characters of text; received "${id}"`)
    }
  }
  return [...new Set(ids)]
}

/** The message of a circuit the store holds nothing for. */
export function unknownCircuits(ids: readonly string[], connection: StoreConnection, hint: string): CliError {
  const names = ids.map((id) => `"${id}"`).join(', ')
  const noun = ids.length === 1 ? 'unknown circuit' : 'unknown circuits'
  return new CliError(`${noun} ${names} in ${connection.target}: ${hint}`)
}

/** The status of every circuit in `ids`, failing, naming them, if the store holds nothing for some. */
export async function requireKnown(
  context: CommandContext,
  ids: readonly string[],
  hint = 'check the id (fleet-breaker list shows the circuits in the store)',
): Promise<CircuitStatus[]> {
  const statuses = await context.control.status(ids)
  const unknown = statuses.filter((status) => !status.exists).map((status) => status.circuitId)
  if (unknown.length > 0) throw unknownCircuits(unknown, context.connection, hint)
  return statuses
}
