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

/** How long one store call may take before the command gives up: an operator's tool, not the hot path. */
export const STORE_CALL_TIMEOUT_MS = 10_000

/**
 * {@link CircuitControl} on the core package's {@link CircuitAdmin}: every change carries its
 * actor and reason into the circuit's history in the same atomic write, exactly as an alarm
 * handler's or a function's own would.
 */
export class AdminControl implements CircuitControl {
  readonly #admin: CircuitAdmin
  readonly #close: () => Promise<void>

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
    const listed = await this.#admin.list(page)
    return {
      circuits: listed.circuits.map(viewOf),
      ...(listed.cursor === undefined ? {} : { cursor: listed.cursor }),
    }
  }

  async status(circuitIds: readonly string[]): Promise<CircuitStatus[]> {
    return (await this.#admin.status(circuitIds)).map(viewOf)
  }

  async forceOpen(circuitId: string, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#admin.forceOpen(circuitId, change)).status)
  }

  async forceClose(circuitId: string, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#admin.forceClose(circuitId, change)).status)
  }

  async clearOverride(circuitId: string, change: ChangeRequest): Promise<CircuitStatus> {
    return viewOf((await this.#admin.clearOverride(circuitId, change)).status)
  }

  async reset(circuitId: string, change: ChangeRequest): Promise<CircuitStatus> {
    return viewOf((await this.#admin.reset(circuitId, change)).status)
  }

  async setShadow(circuitId: string, enabled: boolean, change: OverrideChange): Promise<CircuitStatus> {
    return viewOf((await this.#admin.setShadow(circuitId, enabled, change)).status)
  }

  history(circuitId: string): Promise<readonly HistoryEntry[]> {
    return this.#admin.history(circuitId)
  }

  close(): Promise<void> {
    return this.#close()
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
