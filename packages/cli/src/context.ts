import { MAX_CIRCUIT_ID_LENGTH } from '@fleet-breaker/core'
import { AdminControl } from './admin-control.js'
import {
  connectStore,
  dropWarnings,
  flushWarnings,
  type StoreConnection,
  type StoreSelection,
  stderrLogger,
  storeProblem,
} from './connection.js'
import type { CircuitControl, CircuitStatus } from './control.js'
import { CliError, isCliError, UsageError } from './errors.js'
import { type Colors, colorsFor } from './output.js'

/** The options every command accepts (defined once, on the program). */
export interface GlobalOptions extends StoreSelection {
  readonly json?: boolean
}

/** What a command runs with. */
export interface CommandContext {
  readonly control: CircuitControl
  readonly connection: StoreConnection
  readonly colors: Colors
  readonly json: boolean
  readonly now: () => number
}

/**
 * Connects to the store, runs `command`, and closes the connection. A store failure becomes one
 * line naming what to fix (see {@link storeProblem}).
 */
export async function withControl<T>(
  options: GlobalOptions,
  command: (context: CommandContext) => Promise<T>,
): Promise<T> {
  const connection = await connectStore(options)
  const control = new AdminControl({ store: connection.store, logger: stderrLogger, close: () => connection.close() })
  try {
    const result = await command({
      control,
      connection,
      colors: colorsFor(process.stdout),
      json: options.json === true,
      now: Date.now,
    })
    flushWarnings()
    return result
  } catch (error) {
    dropWarnings()
    throw isCliError(error) ? error : storeProblem(error, connection)
  } finally {
    await control.close()
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
