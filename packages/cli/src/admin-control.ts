import {
  type CircuitStatus as AdminStatus,
  CircuitAdmin,
  CircuitState,
  type CircuitStore,
  type Logger,
} from '@fleet-breaker/core'
import type {
  ChangeRequest,
  CircuitControl,
  CircuitPage,
  CircuitStatus,
  HistoryEntry,
  OverrideChange,
} from './control.js'
import { CliError } from './errors.js'

/**
 * How long one store call may take before the command gives up: an operator's tool, not the hot
 * path. Room for the client's three attempts of up to 5 s each (see `OPERATOR_CLIENT_SETTINGS`).
 */
export const STORE_CALL_TIMEOUT_MS = 20_000

/**
 * {@link CircuitControl} on the core package's {@link CircuitAdmin}: every change carries its
 * actor and reason into the circuit's history in the same atomic write, exactly as an alarm
 * handler's or a function's own would.
 */
export class AdminControl implements CircuitControl {
  readonly #admin: CircuitAdmin
  readonly #close: () => Promise<void>
  #closed = false

  constructor(options: {
    readonly store: CircuitStore
    readonly logger: Logger
    readonly close: () => Promise<void>
    readonly now?: () => number
  }) {
    this.#admin = new CircuitAdmin({
      store: options.store,
      logger: options.logger,
      timeoutMs: STORE_CALL_TIMEOUT_MS,
      ...(options.now === undefined ? {} : { now: options.now }),
    })
    this.#close = options.close
  }

  async list(page: { readonly cursor?: string; readonly limit?: number } = {}): Promise<CircuitPage> {
    const listed = await this.#live(() => this.#admin.list(page))
    return {
      circuits: listed.circuits.map(viewOf),
      ...(listed.cursor === undefined ? {} : { cursor: listed.cursor }),
    }
  }

  async status(circuitIds: readonly string[]): Promise<CircuitStatus[]> {
    return (await this.#live(() => this.#admin.status(circuitIds))).map(viewOf)
  }

  async forceOpen(circuitId: string, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#live(() => this.#admin.forceOpen(circuitId, change))).status)
  }

  async forceClose(circuitId: string, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#live(() => this.#admin.forceClose(circuitId, change))).status)
  }

  async clearOverride(circuitId: string, change: ChangeRequest): Promise<CircuitStatus> {
    return viewOf((await this.#live(() => this.#admin.clearOverride(circuitId, change))).status)
  }

  async reset(circuitId: string, change: ChangeRequest): Promise<CircuitStatus> {
    return viewOf((await this.#live(() => this.#admin.reset(circuitId, change))).status)
  }

  async setShadow(circuitId: string, enabled: boolean, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#live(() => this.#admin.setShadow(circuitId, enabled, change))).status)
  }

  history(circuitId: string): Promise<readonly HistoryEntry[]> {
    return this.#live(() => this.#admin.history(circuitId))
  }

  close(): Promise<void> {
    this.#closed = true
    return this.#close()
  }

  /**
   * Runs a store call while the control is open, and drops its answer if the control was closed
   * meanwhile: a command stopped by `--timeout` must not print (or go on to write) after its error.
   */
  async #live<R>(call: () => Promise<R>): Promise<R> {
    if (this.#closed) throw new CliError('the command was stopped: its connection to the store is closed')
    const answer = await call()
    if (this.#closed) throw new CliError('the command was stopped: its connection to the store is closed')
    return answer
  }
}

/** The CLI's view of a status: only what it shows, with "retry in" absent under an endless forced open. */
function viewOf(status: AdminStatus): CircuitStatus {
  const { forced, shadowOverride, lastAction } = status
  const openForGood = forced?.state === CircuitState.OPEN && forced.until === undefined
  return {
    circuitId: status.circuitId,
    state: status.state,
    automaticState: status.automaticState,
    failures: status.failures,
    ...(openForGood ? {} : { retryInMs: status.retryAfterMs }),
    probesInFlight: status.probesInFlight,
    ...(forced === undefined ? {} : { override: forced }),
    shadow: status.shadow,
    ...(shadowOverride === undefined ? {} : { shadowOverride }),
    changedAt: status.changedAt,
    ...(lastAction === undefined ? {} : { lastAction }),
    exists: status.exists,
  }
}
