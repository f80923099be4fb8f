import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidConfigurationError } from '../errors.js'
import { type CircuitRecord, initialRecord } from '../state.js'
import type {
  AcquireProbeRequest,
  AddCountsRequest,
  AddFailureRequest,
  CircuitStore,
  CompleteProbeRequest,
  ListPage,
  ListRequest,
  ProbeOutcome,
  ResetFailuresRequest,
  ResetRequest,
  SetForcedRequest,
  SetManyEntry,
  SetManyRequest,
  SetShadowRequest,
  StoreCallOptions,
  TransitionOutcome,
  TransitionRequest,
} from './contract.js'
import { decodeListCursor, encodeListCursor, isPlainObject, listLimit } from './listing.js'
import {
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applySetShadow,
  applyTransition,
} from './semantics.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Simulated round-trip time of every operation, in milliseconds (default 0). With 0 an operation
   * still completes asynchronously, so concurrent callers interleave as they would against a real
   * store; a positive value adds real waits, which is meant for demos, not unit tests.
   */
  readonly latencyMs?: number
}

function freezeRecord(record: CircuitRecord): CircuitRecord {
  if (record.state === 'HALF_OPEN') {
    for (const lease of record.probes) Object.freeze(lease)
    Object.freeze(record.probes)
  }
  if (record.forced !== undefined) Object.freeze(record.forced)
  if (record.shadow !== undefined) Object.freeze(record.shadow)
  if (record.history !== undefined) {
    for (const entry of record.history) Object.freeze(entry)
    Object.freeze(record.history)
  }
  if (record.recentOps !== undefined) Object.freeze(record.recentOps)
  if (record.recentChanges !== undefined) Object.freeze(record.recentChanges)
  if (record.state === 'CLOSED' && record.failingEnvironments !== undefined) Object.freeze(record.failingEnvironments)
  return Object.freeze(record)
}

/**
 * A store that keeps circuits in this process's memory. Every breaker given the same instance
 * shares its state, which makes it the store for tests, demos and single-process use. It gives
 * no protection across Lambda execution environments: use a DynamoDB or Redis store for that.
 *
 * @example
 * ```ts
 * const store = new MemoryStore()
 * const a = new CircuitBreaker({ circuitId: 'payment-api', store })
 * const b = new CircuitBreaker({ circuitId: 'payment-api', store }) // sees what `a` records
 * ```
 */
export class MemoryStore implements CircuitStore {
  readonly #records = new Map<string, CircuitRecord>()
  readonly #latencyMs: number

  constructor(options: MemoryStoreOptions = {}) {
    const latencyMs = options.latencyMs ?? 0
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new InvalidConfigurationError('latencyMs', latencyMs, 'a finite number of milliseconds, 0 or more')
    }
    this.#latencyMs = latencyMs
  }

  /** Waits out half the simulated latency (or one turn of the event loop), honouring `signal`. */
  async #travel(options: StoreCallOptions | undefined): Promise<void> {
    options?.signal?.throwIfAborted()
    if (this.#latencyMs > 0) await sleep(this.#latencyMs / 2, undefined, { signal: options?.signal })
    else await Promise.resolve()
  }

  /** Reads, applies and writes in one synchronous step between the two halves of the round trip. */
  async #update<T>(
    circuitId: string,
    options: StoreCallOptions | undefined,
    change: (current: CircuitRecord) => { result: T; next: CircuitRecord },
  ): Promise<T> {
    await this.#travel(options)
    const current = this.#records.get(circuitId) ?? initialRecord(circuitId)
    const { result, next } = change(current)
    if (next !== current) this.#records.set(circuitId, freezeRecord(next))
    await this.#travel(options)
    return result
  }

  #changeRecord(
    circuitId: string,
    options: StoreCallOptions | undefined,
    apply: (current: CircuitRecord) => CircuitRecord,
  ) {
    return this.#update(circuitId, options, (current) => {
      const next = apply(current)
      return { result: next, next }
    })
  }

  async get(circuitId: string, options?: StoreCallOptions): Promise<CircuitRecord | undefined> {
    await this.#travel(options)
    const record = this.#records.get(circuitId)
    await this.#travel(options)
    return record
  }

  async getMany(
    circuitIds: readonly string[],
    options?: StoreCallOptions,
  ): Promise<ReadonlyMap<string, CircuitRecord>> {
    await this.#travel(options)
    const found = new Map<string, CircuitRecord>()
    for (const circuitId of circuitIds) {
      const record = this.#records.get(circuitId)
      if (record !== undefined) found.set(circuitId, record)
    }
    await this.#travel(options)
    return found
  }

  addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applyAddFailure(current, request))
  }

  addCounts(circuitId: string, request: AddCountsRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applyAddCounts(current, request))
  }

  resetFailures(circuitId: string, request: ResetFailuresRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applyResetFailures(current, request))
  }

  transition(circuitId: string, request: TransitionRequest, options?: StoreCallOptions): Promise<TransitionOutcome> {
    return this.#update(circuitId, options, (current) => {
      const outcome = applyTransition(current, request)
      return { result: outcome, next: outcome.record }
    })
  }

  acquireProbe(circuitId: string, request: AcquireProbeRequest, options?: StoreCallOptions): Promise<ProbeOutcome> {
    return this.#update(circuitId, options, (current) => {
      const outcome = applyAcquireProbe(current, request)
      return { result: outcome, next: outcome.record }
    })
  }

  completeProbe(circuitId: string, request: CompleteProbeRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applyCompleteProbe(current, request))
  }

  setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applySetForced(current, request.forced, request))
  }

  setShadow(circuitId: string, request: SetShadowRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applySetShadow(current, request.shadow, request))
  }

  reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#changeRecord(circuitId, options, (current) => applyReset(current, request))
  }

  async setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void> {
    await this.#travel(options)
    for (const { circuitId, forced } of entries) {
      const current = this.#records.get(circuitId) ?? initialRecord(circuitId)
      const next = applySetForced(current, forced, request)
      if (next !== current) this.#records.set(circuitId, freezeRecord(next))
    }
    await this.#travel(options)
  }

  /** Pages through the circuits in order of their ids; the cursor is the last id of a page. */
  async list(request: ListRequest, options?: StoreCallOptions): Promise<ListPage> {
    const limit = listLimit(request)
    const position = decodeListCursor(
      request.cursor,
      (value): value is { after: string } => isPlainObject(value) && typeof value.after === 'string',
    )
    await this.#travel(options)
    const ids = [...this.#records.keys()].filter((id) => position === undefined || id > position.after).sort()
    const page = ids.slice(0, limit)
    const circuits = page.map((circuitId) => ({ circuitId, record: this.#records.get(circuitId) as CircuitRecord }))
    await this.#travel(options)
    const last = page.at(-1)
    return ids.length > limit && last !== undefined
      ? { circuits, cursor: encodeListCursor({ after: last }) }
      : { circuits }
  }

  async clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void> {
    await this.#travel(options)
    for (const circuitId of circuitIds) this.#records.delete(circuitId)
    await this.#travel(options)
  }
}
