import { randomUUID } from 'node:crypto'
import {
  InvalidConfigurationError,
  isInvalidConfigurationError,
  isStoreUnavailableError,
  StoreUnavailableError,
} from './errors.js'
import { jsonConsoleLogger, type Logger } from './logger.js'
import { DEFAULTS, MAX_CIRCUIT_ID_LENGTH } from './options.js'
import { type CircuitSnapshot, toSnapshot } from './snapshot.js'
import { type CircuitRecord, CircuitState, type ForcedStateName, type HistoryEntry, initialRecord } from './state.js'
import type { CircuitStore, ListRequest, StoreCallOptions } from './store/contract.js'
import { listLimit } from './store/listing.js'

/** Options of {@link CircuitAdmin}. */
export interface CircuitAdminOptions {
  /** The store the fleet's breakers share. */
  readonly store: CircuitStore
  /**
   * Who acts when an action names nobody: a person, a role, an automation (`'alarm:payments-5xx'`).
   * Every action must have an actor, from here or from its own options.
   */
  readonly actor?: string
  /** Where actions are logged (one line each). Default {@link jsonConsoleLogger}. */
  readonly logger?: Logger
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  readonly now?: () => number
  /**
   * How long each store call may take before it fails with a `StoreUnavailableError`, in
   * milliseconds. A write that fails is sent once more under the same op id only when a read shows
   * it was not applied and nobody changed the circuit meanwhile; otherwise the failure is reported
   * (a later write is never undone by a retry). Default 5 000.
   */
  readonly timeoutMs?: number
  /**
   * What `retryAfterMs` reports for a circuit forced open with no end: the fleet's `resetTimeoutMs`.
   * Default {@link DEFAULTS}.resetTimeoutMs.
   */
  readonly resetTimeoutMs?: number
}

/** Who acts and why; `actor` defaults to the admin's. */
export interface AdminActionOptions {
  readonly actor?: string
  readonly reason?: string
}

/** An override (or shadow override) to set: who, why, for how long (absent: until cleared). */
export interface AdminOverrideOptions extends AdminActionOptions {
  readonly durationMs?: number
}

/** Options of {@link CircuitAdmin.forceOpen} and {@link CircuitAdmin.forceClose}. */
export interface AdminForceOptions extends AdminOverrideOptions {
  /**
   * Replaces only an override this actor set: an automation renews its own override and never
   * overwrites one a person set meanwhile (`applied: false` then). Decided atomically by the store.
   */
  readonly onlyIfActor?: string
  /**
   * With `onlyIfActor`: applies also where no override is in force, so an automation sets its
   * override only where nobody else's is. Decided atomically by the store.
   */
  readonly orNoOverride?: boolean
}

/** Options of {@link CircuitAdmin.clearOverride}. */
export interface AdminClearOptions extends AdminActionOptions {
  /**
   * Clears only an override this actor set: an automation (an alarm handler) clears its own
   * override and never one a person set meanwhile. Decided atomically by the store.
   */
  readonly onlyIfActor?: string
  /** With `onlyIfActor`: applies also where no override is in force (the action is then only recorded). */
  readonly orNoOverride?: boolean
}

/** A circuit as an operator sees it: its snapshot, and whether the store holds a record at all. */
export interface CircuitStatus extends CircuitSnapshot {
  /** `false` for a circuit the store holds nothing for (it reads as a fresh closed circuit). */
  readonly exists: boolean
}

/** What an action did. */
export interface CircuitChange {
  readonly circuitId: string
  /** `false` only for an action with `onlyIfActor` that found another actor's override (or none). */
  readonly applied: boolean
  /** The circuit after the action. */
  readonly status: CircuitStatus
}

/** One page of {@link CircuitAdmin.list}. */
export interface CircuitStatusPage {
  readonly circuits: readonly CircuitStatus[]
  /** Pass it back for the next page; absent on the last page. */
  readonly cursor?: string
}

const DEFAULT_TIMEOUT_MS = 5_000
const MAX_REASON_LENGTH = 1_024
const MAX_ACTOR_LENGTH = 256
/** Longest timed override: ten years (as the breaker's own controls allow). */
const MAX_OVERRIDE_MS = 10 * 365 * 24 * 60 * 60 * 1_000
/** How many times a write is sent (under one op id) at most before its failure is reported. */
const WRITE_ATTEMPTS = 2

/**
 * The operator's side of a fleet's circuits, for tools rather than request paths: the CLI, alarm
 * handlers, a Lambda extension's manual control. It lists the circuits a store holds, reports their
 * status, and forces, clears, resets and shadows them with who and why, each action recorded in
 * the circuit's bounded history in the same atomic write. Every breaker of the circuit follows
 * within its `cacheTtlMs`.
 *
 * Invalid input throws an `InvalidConfigurationError` naming the field; a store that cannot be
 * reached, a `StoreUnavailableError` with the store's error as `cause`.
 *
 * @example
 * ```ts
 * import { CircuitAdmin, MemoryStore } from '@fleet-breaker/core'
 *
 * const admin = new CircuitAdmin({ store: new MemoryStore(), actor: 'alice@example.com' })
 * await admin.forceOpen('payment-api', { reason: 'provider maintenance', durationMs: 30 * 60_000 })
 * const [status] = await admin.status(['payment-api'])
 * console.log(status?.state, status?.forced?.actor, status?.forced?.until)
 * await admin.clearOverride('payment-api', { reason: 'maintenance over' })
 * console.log(await admin.history('payment-api'))
 * ```
 */
export class CircuitAdmin {
  readonly #store: CircuitStore
  readonly #actor: string | undefined
  readonly #logger: Logger
  readonly #now: () => number
  readonly #timeoutMs: number
  readonly #resetTimeoutMs: number

  constructor(options: CircuitAdminOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidConfigurationError('options', options, 'an object')
    }
    const store: unknown = options.store
    if (typeof store !== 'object' || store === null || typeof Reflect.get(store, 'list') !== 'function') {
      throw new InvalidConfigurationError(
        'store',
        store,
        'a CircuitStore (MemoryStore, DynamoDBStore, RedisStore, ...)',
      )
    }
    this.#store = options.store
    this.#actor = options.actor === undefined ? undefined : checkActor('actor', options.actor)
    this.#logger = options.logger ?? jsonConsoleLogger
    const now = options.now ?? Date.now
    if (typeof now !== 'function') throw new InvalidConfigurationError('now', now, 'a function')
    this.#now = now
    this.#timeoutMs = checkWhole('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, 600_000)
    this.#resetTimeoutMs = checkWhole(
      'resetTimeoutMs',
      options.resetTimeoutMs ?? DEFAULTS.resetTimeoutMs,
      1,
      Number.MAX_SAFE_INTEGER,
    )
  }

  /**
   * One page of the circuits the store holds, with their status. Follow `cursor` until a page has
   * none. A page may be empty while a cursor follows (a store reads more than it returns). See the
   * store's notes on cost: a DynamoDB store scans its table.
   *
   * @example
   * ```ts
   * let cursor: string | undefined
   * do {
   *   const page = await admin.list({ cursor, limit: 100 })
   *   for (const circuit of page.circuits) console.log(circuit.circuitId, circuit.state)
   *   cursor = page.cursor
   * } while (cursor !== undefined)
   * ```
   */
  async list(request: ListRequest = {}): Promise<CircuitStatusPage> {
    listLimit(request)
    const now = this.#now()
    const page = await this.#call('list', '*', (options) => this.#store.list(request, options))
    return {
      circuits: page.circuits.map(({ record }) => this.#status(record, now, true)),
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
    }
  }

  /**
   * The status of each circuit, in the order asked: state, failures, retry time, probes in flight,
   * the override (reason, actor, since, until), shadow mode, the last change and the last action.
   * A circuit the store holds nothing for reads as fresh and closed, with `exists: false`.
   *
   * @example
   * ```ts
   * for (const status of await admin.status(['payment-api', 'email-api'])) console.log(status.circuitId, status.state)
   * ```
   */
  async status(circuitIds: readonly string[]): Promise<CircuitStatus[]> {
    if (!Array.isArray(circuitIds)) throw new InvalidConfigurationError('circuitIds', circuitIds, 'an array of ids')
    for (const circuitId of circuitIds) checkCircuitId(circuitId)
    if (circuitIds.length === 0) return []
    const now = this.#now()
    const records = await this.#call('getMany', circuitIds[0] as string, (options) =>
      this.#store.getMany(circuitIds, { ...options, now }),
    )
    return circuitIds.map((circuitId) => {
      const record = records.get(circuitId)
      return this.#status(record ?? initialRecord(circuitId), now, record !== undefined)
    })
  }

  /**
   * The circuit's last operator actions, newest first (at most `MAX_HISTORY`).
   *
   * @example
   * ```ts
   * for (const entry of await admin.history('payment-api')) console.log(new Date(entry.at), entry.action, entry.actor, entry.reason)
   * ```
   */
  async history(circuitId: string): Promise<HistoryEntry[]> {
    checkCircuitId(circuitId)
    const now = this.#now()
    const record = await this.#call('get', circuitId, (options) => this.#store.get(circuitId, { ...options, now }))
    return [...(record?.history ?? [])].reverse()
  }

  /**
   * Forces the circuit open for the whole fleet: every call is rejected (shadow mode included)
   * until the override is cleared, the circuit reset, or `durationMs` passes.
   *
   * @example
   * ```ts
   * await admin.forceOpen('payment-api', { reason: 'INC-123: provider down', durationMs: 15 * 60_000 })
   * ```
   */
  async forceOpen(circuitId: string, options: AdminForceOptions = {}): Promise<CircuitChange> {
    return this.#force(circuitId, CircuitState.OPEN, options)
  }

  /**
   * Forces the circuit closed for the whole fleet: every call goes through and nothing is counted
   * until the override is cleared, the circuit reset, or `durationMs` passes.
   *
   * @example
   * ```ts
   * await admin.forceClose('payment-api', { reason: 'false alarm', durationMs: 10 * 60_000 })
   * ```
   */
  async forceClose(circuitId: string, options: AdminForceOptions = {}): Promise<CircuitChange> {
    return this.#force(circuitId, CircuitState.CLOSED, options)
  }

  /**
   * Removes the forced state; the automatic state, frozen meanwhile, applies again. With
   * `onlyIfActor`, only an override that actor set is removed (`applied: false` otherwise).
   *
   * @example
   * ```ts
   * const { applied } = await admin.clearOverride('payment-api', { actor: 'alarm:payments-5xx', onlyIfActor: 'alarm:payments-5xx' })
   * ```
   */
  async clearOverride(circuitId: string, options: AdminClearOptions = {}): Promise<CircuitChange> {
    checkCircuitId(circuitId)
    const note = this.#note(options)
    const condition = actorCondition(options)
    return this.#write('clear', circuitId, note, (opId, now, callOptions) =>
      this.#store.setForced(circuitId, { opId, now, ...note, ...condition }, callOptions),
    )
  }

  /**
   * Puts the circuit back to a fresh closed state: counts, backoff and the forced state go. The
   * shadow override and the history stay.
   *
   * @example
   * ```ts
   * await admin.reset('payment-api', { reason: 'provider fixed; start afresh' })
   * ```
   */
  async reset(circuitId: string, options: AdminActionOptions = {}): Promise<CircuitChange> {
    checkCircuitId(circuitId)
    const note = this.#note(options)
    return this.#write('reset', circuitId, note, (opId, now, callOptions) =>
      this.#store.reset(circuitId, { opId, now, ...note }, callOptions),
    )
  }

  /**
   * Switches fleet-wide shadow mode on or off for the circuit: its breakers decide and record as
   * usual but let through the calls they would reject (logging each as "would reject"). A forced
   * open still rejects. `durationMs` ends it on its own.
   *
   * @example
   * ```ts
   * await admin.setShadow('payment-api', true, { reason: 'tuning thresholds', durationMs: 24 * 3_600_000 })
   * ```
   */
  async setShadow(circuitId: string, on: boolean, options: AdminOverrideOptions = {}): Promise<CircuitChange> {
    checkCircuitId(circuitId)
    if (typeof on !== 'boolean') throw new InvalidConfigurationError('on', on, 'true or false')
    const note = this.#note(options)
    const durationMs = checkDuration(options.durationMs)
    const shadow = on ? { ...note, ...(durationMs === undefined ? {} : { durationMs }) } : undefined
    return this.#write(on ? 'shadow-on' : 'shadow-off', circuitId, note, (opId, now, callOptions) =>
      this.#store.setShadow(
        circuitId,
        { opId, now, ...note, ...(shadow === undefined ? {} : { shadow }) },
        callOptions,
      ),
    )
  }

  async #force(circuitId: string, state: ForcedStateName, options: AdminForceOptions): Promise<CircuitChange> {
    checkCircuitId(circuitId)
    const note = this.#note(options)
    const durationMs = checkDuration(options.durationMs)
    const condition = actorCondition(options)
    const forced = { state, ...note, ...(durationMs === undefined ? {} : { durationMs }) }
    const action = state === CircuitState.OPEN ? 'force-open' : 'force-close'
    return this.#write(action, circuitId, note, (opId, now, callOptions) =>
      this.#store.setForced(circuitId, { opId, now, forced, ...condition }, callOptions),
    )
  }

  /** Who acts (the action's actor, else the admin's) and why, checked. */
  #note(options: AdminActionOptions): { actor: string; reason?: string } {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidConfigurationError('options', options, 'an object')
    }
    const actor = options.actor === undefined ? this.#actor : checkActor('actor', options.actor)
    if (actor === undefined) {
      throw new InvalidConfigurationError('actor', undefined, 'who acts (in the action or the admin options)')
    }
    const { reason } = options
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
      throw new InvalidConfigurationError('reason', reason, `a string of at most ${MAX_REASON_LENGTH} characters`)
    }
    return reason === undefined ? { actor } : { actor, reason }
  }

  /**
   * Sends an operator write and reports what it did. A write whose answer was lost is sent again
   * (under its op id) only when the circuit is still at the generation read before it: operator
   * writes are not fenced on a generation, so a retry after someone else's change would undo it.
   */
  async #write(
    action: string,
    circuitId: string,
    note: { actor: string; reason?: string },
    write: (opId: string, now: number, options: StoreCallOptions) => Promise<CircuitRecord>,
  ): Promise<CircuitChange> {
    const opId = randomUUID()
    const now = this.#now()
    const read = () => this.#call('get', circuitId, (options) => this.#store.get(circuitId, { ...options, now }))
    const tryRead = () =>
      read().then(
        (found) => ({ found }),
        () => undefined,
      )
    // Unknown (the read failed): then a lost answer is reported, never retried.
    const before = await tryRead()
    let record: CircuitRecord | undefined
    for (let attempt = 1; record === undefined; attempt++) {
      try {
        record = await this.#call(action, circuitId, (options) => write(opId, now, options))
      } catch (error) {
        if (!isStoreUnavailableError(error)) throw error
        // Learn what the lost answer would have said; without that, report the failure.
        const current = await tryRead()
        if (current === undefined) throw error
        if (current.found?.changedBy === opId) record = current.found
        else if (
          attempt >= WRITE_ATTEMPTS ||
          before === undefined ||
          generationOf(current.found) !== generationOf(before.found)
        ) {
          throw error
        }
      }
    }
    const applied = record.changedBy === opId
    this.#logger.info(`fleet-breaker: ${action} ${applied ? 'applied' : 'not applied (another actor’s override)'}`, {
      circuitId,
      action,
      ...note,
      generation: record.generation,
    })
    return { circuitId, applied, status: this.#status(record, this.#now(), true) }
  }

  /** Runs a store call under the admin's deadline; a failure becomes a `StoreUnavailableError`. */
  async #call<T>(
    operation: string,
    circuitId: string,
    call: (options: StoreCallOptions) => Promise<T>,
    attempts = 1,
  ): Promise<T> {
    let failure: unknown
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        return await call({ signal: AbortSignal.timeout(this.#timeoutMs) })
      } catch (error) {
        if (isInvalidConfigurationError(error)) throw error
        failure = error
      }
    }
    throw new StoreUnavailableError({ circuitId, cause: failure, operation })
  }

  #status(record: CircuitRecord, now: number, exists: boolean): CircuitStatus {
    const snapshot = toSnapshot(record, now, 'store', {
      circuitId: record.circuitId,
      resetTimeoutMs: this.#resetTimeoutMs,
    })
    return { ...snapshot, exists }
  }
}

/** The store condition of an action limited to one actor's override, checked. */
function actorCondition(options: { readonly onlyIfActor?: unknown; readonly orNoOverride?: unknown }): {
  onlyIfActor?: string
  orNoOverride?: boolean
} {
  const { onlyIfActor, orNoOverride } = options
  if (orNoOverride !== undefined && typeof orNoOverride !== 'boolean') {
    throw new InvalidConfigurationError('orNoOverride', orNoOverride, 'true or false')
  }
  if (onlyIfActor === undefined) {
    if (orNoOverride === true)
      throw new InvalidConfigurationError('onlyIfActor', undefined, 'an actor with orNoOverride')
    return {}
  }
  return { onlyIfActor: checkActor('onlyIfActor', onlyIfActor), ...(orNoOverride === true ? { orNoOverride } : {}) }
}

/** A record's generation; -1 for a circuit the store holds nothing for. */
function generationOf(record: CircuitRecord | undefined): number {
  return record === undefined ? -1 : record.generation
}

function checkCircuitId(circuitId: unknown): asserts circuitId is string {
  if (typeof circuitId !== 'string' || circuitId.trim() === '' || circuitId.length > MAX_CIRCUIT_ID_LENGTH) {
    throw new InvalidConfigurationError(
      'circuitId',
      circuitId,
      `a non-blank string of at most ${MAX_CIRCUIT_ID_LENGTH} characters`,
    )
  }
}

function checkActor(name: string, actor: unknown): string {
  if (
    typeof actor !== 'string' ||
    actor.trim() === '' ||
    actor.length > MAX_ACTOR_LENGTH ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    /[\u0000-\u001f\u007f]/.test(actor)
  ) {
    throw new InvalidConfigurationError(
      name,
      actor,
      `a non-blank string of at most ${MAX_ACTOR_LENGTH} characters without control characters`,
    )
  }
  return actor
}

function checkDuration(durationMs: unknown): number | undefined {
  if (durationMs === undefined) return undefined
  return checkWhole('durationMs', durationMs, 1, MAX_OVERRIDE_MS)
}

function checkWhole(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidConfigurationError(name, value, `an integer from ${min} to ${max}`)
  }
  return value
}
