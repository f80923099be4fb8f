import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandOutput,
  type KeysAndAttributes,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb'
import {
  type AcquireProbeRequest,
  type AddFailureRequest,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  type CompleteProbeRequest,
  decodeFlatRecord,
  FlatField,
  freeProbeSlot,
  initialRecord,
  MAX_PROBE_SLOTS,
  type OverrideRequest,
  overrideAt,
  PROBE_FIELDS,
  type ProbeOutcome,
  probeExpiresField,
  probeTokenField,
  type ResetFailuresRequest,
  type ResetRequest,
  repairGeneration,
  type SetForcedRequest,
  type SetManyEntry,
  type SetManyRequest,
  type StoreCallOptions,
  type TransitionOutcome,
  type TransitionRequest,
  windowIsOpen,
} from '@fleet-breaker/core'
import { InvalidRecordReporter } from '../invalid-records.js'
import { type Item, itemToFields, number, text } from './attributes.js'
import { UpdateBuilder } from './expression.js'
import { type DynamoDBStoreOptions, type ResolvedDynamoDBStoreOptions, resolveDynamoDBStoreOptions } from './options.js'
import { eachWithBackoff, inBatches, runLimited } from './retry.js'

/** BatchGetItem reads at most 100 keys a request; BatchWriteItem writes at most 25 items. */
const BATCH_GET_LIMIT = 100
const BATCH_WRITE_LIMIT = 25
/** How many overrides `setMany` writes at once. */
const SET_MANY_CONCURRENCY = 10
/** Bounds the compare-and-retry loops; each retry means another writer won a race meanwhile. */
const MAX_ATTEMPTS = 5
/** How many circuits' last-seen records an instance keeps as hints. */
const MAX_HINTS = 1_000

/** The attributes a record may hold besides the common ones; a transition removes those it does not set. */
const STATE_FIELDS: readonly string[] = [
  FlatField.FAILURES,
  FlatField.WINDOW_STARTED_AT,
  FlatField.RETRY_AT,
  FlatField.SUCCESSES,
  ...PROBE_FIELDS,
]
const FORCED_FIELDS: readonly string[] = [
  FlatField.FORCED_STATE,
  FlatField.FORCED_REASON,
  FlatField.FORCED_SINCE,
  FlatField.FORCED_UNTIL,
]

/** The result of one conditional write: the record it produced, or the record that stopped it. */
type WriteResult =
  | { readonly applied: true; readonly record: CircuitRecord }
  | { readonly applied: false; readonly record: CircuitRecord; readonly invalidItem?: Item }

/**
 * A {@link CircuitStore} on a DynamoDB table, one item per circuit.
 *
 * Every change is one conditional `UpdateItem`: counters with `ADD`, transitions and probe leases
 * with conditions on the circuit's generation and state, `ReturnValues: ALL_NEW` so a write says
 * what it produced, and `ReturnValuesOnConditionCheckFailure: ALL_OLD` so a lost race says who
 * won without another read. There is no unconditional whole-item write.
 *
 * Times are the caller's clock (`now` in each request). DynamoDB has no server clock to decide
 * with, and Lambda's clocks are kept within milliseconds by the Amazon Time Sync Service, far
 * below the seconds a circuit's timings are measured in.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@fleet-breaker/core'
 * import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
 *
 * const store = new DynamoDBStore({ tableName: 'circuit-breakers' }) // once per environment, outside the handler
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store })
 * ```
 */
export class DynamoDBStore implements CircuitStore {
  readonly #options: ResolvedDynamoDBStoreOptions
  readonly #invalid: InvalidRecordReporter
  /**
   * The last record this instance saw of each circuit. Only a hint for choosing which form of a
   * write to try first (extend the failure window or start one; which probe slot is free); the
   * conditions decide, so a stale hint costs a retry, never a wrong result.
   */
  readonly #hints = new Map<string, CircuitRecord>()

  constructor(options: DynamoDBStoreOptions) {
    this.#options = resolveDynamoDBStoreOptions(options)
    this.#invalid = new InvalidRecordReporter(this.#options.logger, 'dynamodb')
  }

  /**
   * Closes the connections of the client the store built from `clientConfig`. A client you passed
   * in stays yours to close. A Lambda function never needs to call this.
   *
   * @example
   * ```ts
   * afterAll(() => store.close())
   * ```
   */
  close(): void {
    if (this.#options.ownsClient) (this.#options.client as unknown as Pick<DynamoDBClient, 'destroy'>).destroy()
  }

  /** The table this store uses. */
  get tableName(): string {
    return this.#options.tableName
  }

  // ---- reads ----------------------------------------------------------------------------------

  async get(circuitId: string, options?: StoreCallOptions): Promise<CircuitRecord | undefined> {
    const output = await this.#send<GetItemCommandOutput>(
      new GetItemCommand({
        TableName: this.#options.tableName,
        Key: this.#key(circuitId),
        ConsistentRead: this.#options.consistentReads,
      }),
      options,
    )
    return output.Item === undefined
      ? undefined
      : this.#remember(circuitId, this.#decode(circuitId, output.Item).record)
  }

  async getMany(
    circuitIds: readonly string[],
    options?: StoreCallOptions,
  ): Promise<ReadonlyMap<string, CircuitRecord>> {
    const found = new Map<string, CircuitRecord>()
    const byKey = new Map(circuitIds.map((circuitId) => [this.#keyValue(circuitId), circuitId]))
    for (const chunk of inBatches([...byKey.values()], BATCH_GET_LIMIT)) {
      const keys: KeysAndAttributes = {
        Keys: chunk.map((circuitId) => this.#key(circuitId)),
        ConsistentRead: this.#options.consistentReads,
      }
      await eachWithBackoff<Record<string, KeysAndAttributes>>(
        { [this.#options.tableName]: keys },
        async (requestItems) => {
          const output = await this.#send<BatchGetItemCommandOutput>(
            new BatchGetItemCommand({ RequestItems: requestItems }),
            options,
          )
          for (const item of output.Responses?.[this.#options.tableName] ?? []) {
            const circuitId = byKey.get(item[this.#options.partitionKey]?.S ?? '')
            if (circuitId !== undefined) found.set(circuitId, this.#decode(circuitId, item).record)
          }
          const unprocessed = output.UnprocessedKeys?.[this.#options.tableName]
          return unprocessed?.Keys?.length ? { [this.#options.tableName]: unprocessed } : undefined
        },
        options?.signal,
      )
    }
    return found
  }

  // ---- counting failures ------------------------------------------------------------------------

  async addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const { generation, now, windowMs } = request
    const hint = this.#hints.get(circuitId)
    let extend =
      hint?.state === CircuitState.CLOSED && hint.generation === generation && windowIsOpen(hint, now, windowMs)
    let current: CircuitRecord = hint ?? initialRecord(circuitId)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const update = extend
        ? this.#extendWindow(generation, now, windowMs)
        : this.#startWindow(generation, now, windowMs)
      const result = await this.#update(circuitId, update, options)
      if (result.applied) return result.record
      current = result.record
      if (result.invalidItem !== undefined) {
        await this.#repair(circuitId, result.invalidItem, now, options)
        extend = false
        continue
      }
      if (current.state !== CircuitState.CLOSED || current.generation !== generation) return current
      // Still closed at this generation: the window changed under us; try the other form.
      extend = windowIsOpen(current, now, windowMs)
    }
    return current
  }

  /** Counts one more failure in a window that is still open. */
  #extendWindow(generation: number, now: number, windowMs: number): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), now)
    const failures = update.name(FlatField.FAILURES)
    const windowStartedAt = update.name(FlatField.WINDOW_STARTED_AT)
    update.add(FlatField.FAILURES, number(1))
    // Guards: closed at the caller's generation, and the window has a failure and has not lapsed.
    this.#closedAt(update, generation)
    update.when(`${failures} > ${update.value(number(0))}`)
    update.when(`${windowStartedAt} > ${update.value(number(now - windowMs))}`)
    return update
  }

  /** Counts the first failure of a new window (creating the item if there is none). */
  #startWindow(generation: number, now: number, windowMs: number): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), now)
    update.setValue(FlatField.FAILURES, number(1)).setValue(FlatField.WINDOW_STARTED_AT, number(now))
    this.#createIfAbsent(update, { withGeneration: true })
    const failures = update.name(FlatField.FAILURES)
    const windowStartedAt = update.name(FlatField.WINDOW_STARTED_AT)
    // Guards: closed at the caller's generation, and no failure is counted in an open window.
    this.#closedAt(update, generation)
    update.when(
      `${failures} = ${update.value(number(0))} OR attribute_not_exists(${windowStartedAt}) OR ${windowStartedAt} <= ${update.value(number(now - windowMs))}`,
    )
    return update
  }

  async resetFailures(
    circuitId: string,
    request: ResetFailuresRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    const update = this.#touch(new UpdateBuilder(), request.now)
    update.setValue(FlatField.FAILURES, number(0)).remove(FlatField.WINDOW_STARTED_AT)
    // Guards: closed at the caller's generation with something to reset.
    this.#closedAt(update, request.generation)
    update.when(`${update.name(FlatField.FAILURES)} > ${update.value(number(0))}`)
    return (await this.#update(circuitId, update, options)).record
  }

  // ---- transitions and probes -----------------------------------------------------------------

  async transition(
    circuitId: string,
    request: TransitionRequest,
    options?: StoreCallOptions,
  ): Promise<TransitionOutcome> {
    const { from, guard, to, now } = request
    const update = this.#touch(new UpdateBuilder(), now)
    update
      .setValue(FlatField.STATE, text(to.state))
      .setValue(FlatField.GENERATION, number(from.generation + 1))
      .setValue(FlatField.CHANGED_AT, number(now))
    switch (to.state) {
      case CircuitState.OPEN:
        update
          .setValue(FlatField.OPEN_COUNT, number(to.openCount))
          .setValue(FlatField.RETRY_AT, number(now + to.retryInMs))
        break
      case CircuitState.HALF_OPEN:
        update
          .setValue(FlatField.SUCCESSES, number(0))
          .setValue(probeTokenField(0), text(to.probe.token))
          .setValue(probeExpiresField(0), number(now + to.probe.leaseMs))
        break
      case CircuitState.CLOSED:
        update.setValue(FlatField.FAILURES, number(0)).setValue(FlatField.OPEN_COUNT, number(0))
        break
    }
    update.remove(...STATE_FIELDS)
    // Guards: still in the state and generation the caller saw, plus the caller's own conditions.
    this.#stateAt(update, from.state, from.generation)
    if (guard?.minFailures !== undefined) {
      update.when(`${update.name(FlatField.FAILURES)} >= ${update.value(number(guard.minFailures))}`)
    }
    if (guard?.minSuccesses !== undefined) {
      update.when(`${update.name(FlatField.SUCCESSES)} >= ${update.value(number(guard.minSuccesses))}`)
    }
    if (guard?.retryDue === true) {
      update.when(`${update.name(FlatField.RETRY_AT)} <= ${update.value(number(now))}`)
    }
    const result = await this.#update(circuitId, update, options)
    return { applied: result.applied, record: result.record }
  }

  async acquireProbe(
    circuitId: string,
    request: AcquireProbeRequest,
    options?: StoreCallOptions,
  ): Promise<ProbeOutcome> {
    const { generation, maxProbes, token, leaseMs, now } = request
    let current = this.#hints.get(circuitId)
    for (let attempt = 0; attempt <= Math.min(maxProbes, MAX_PROBE_SLOTS); attempt++) {
      const halfOpen = current?.state === CircuitState.HALF_OPEN && current.generation === generation
      if (current !== undefined && !halfOpen) return { record: current }
      const slot = current?.state === CircuitState.HALF_OPEN ? freeProbeSlot(current, maxProbes, now) : 0
      if (slot === undefined) return { record: current ?? initialRecord(circuitId) }
      const expiresAt = now + leaseMs
      const update = this.#touch(new UpdateBuilder(), now)
      update.setValue(probeTokenField(slot), text(token)).setValue(probeExpiresField(slot), number(expiresAt))
      // Guards: half-open at the caller's generation, and the slot is free or its lease lapsed.
      this.#stateAt(update, CircuitState.HALF_OPEN, generation)
      const slotExpiry = update.name(probeExpiresField(slot))
      update.when(`attribute_not_exists(${slotExpiry}) OR ${slotExpiry} <= ${update.value(number(now))}`)
      const result = await this.#update(circuitId, update, options)
      if (result.applied) return { lease: { slot, token, expiresAt }, record: result.record }
      current = result.record
    }
    return { record: current ?? initialRecord(circuitId) }
  }

  async completeProbe(
    circuitId: string,
    request: CompleteProbeRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    const { generation, token, success, now } = request
    let current = this.#hints.get(circuitId) ?? (await this.get(circuitId, options)) ?? initialRecord(circuitId)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (current.state !== CircuitState.HALF_OPEN || current.generation !== generation) return current
      const held = current.probes.find((lease) => lease.token === token)
      if (held === undefined && !success) return current
      const update = this.#touch(new UpdateBuilder(), now)
      if (success) update.add(FlatField.SUCCESSES, number(1))
      // Guards: half-open at the caller's generation and, when giving a lease back, still the
      // caller's: a lapsed lease may have gone to another probe, whose slot must stay taken.
      this.#stateAt(update, CircuitState.HALF_OPEN, generation)
      if (held !== undefined) {
        update.remove(probeTokenField(held.slot), probeExpiresField(held.slot))
        update.when(`${update.name(probeTokenField(held.slot))} = ${update.value(text(token))}`)
      }
      const result = await this.#update(circuitId, update, options)
      if (result.applied) return result.record
      current = result.record
    }
    return current
  }

  // ---- manual control -----------------------------------------------------------------------

  async setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#writeRepairing(circuitId, request.now, options, () => this.#forcedUpdate(request.forced, request.now))
  }

  #forcedUpdate(forced: OverrideRequest | undefined, now: number): UpdateBuilder {
    const update = new UpdateBuilder()
    this.#createIfAbsent(update, { withGeneration: false })
    const generation = update.name(FlatField.GENERATION)
    update.set(
      FlatField.GENERATION,
      `if_not_exists(${generation}, ${update.value(number(0))}) + ${update.value(number(1))}`,
    )
    update.set(FlatField.FAILURES, `if_not_exists(${update.name(FlatField.FAILURES)}, ${update.value(number(0))})`)
    if (forced === undefined) {
      this.#touch(update, now)
      update.remove(...FORCED_FIELDS)
    } else {
      const override = overrideAt(forced, now)
      update
        .setValue(FlatField.FORCED_STATE, text(override.state))
        .setValue(FlatField.FORCED_SINCE, number(override.since))
      if (override.reason !== undefined) update.setValue(FlatField.FORCED_REASON, text(override.reason))
      if (override.until !== undefined) update.setValue(FlatField.FORCED_UNTIL, number(override.until))
      update.remove(FlatField.FORCED_REASON, FlatField.FORCED_UNTIL)
      // A circuit forced open must not silently expire; one with an end lives a TTL past it.
      if (override.until === undefined) this.#dropTtl(update)
      else this.#touch(update, override.until)
    }
    this.#validOrAbsent(update)
    return update
  }

  async reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#writeRepairing(circuitId, request.now, options, () => {
      const update = this.#touch(new UpdateBuilder(), request.now)
      const generation = update.name(FlatField.GENERATION)
      update
        .setValue(FlatField.STATE, text(CircuitState.CLOSED))
        .set(
          FlatField.GENERATION,
          `if_not_exists(${generation}, ${update.value(number(0))}) + ${update.value(number(1))}`,
        )
        .setValue(FlatField.OPEN_COUNT, number(0))
        .setValue(FlatField.CHANGED_AT, number(request.now))
        .setValue(FlatField.FAILURES, number(0))
        .remove(...STATE_FIELDS, ...FORCED_FIELDS)
      this.#validOrAbsent(update)
      return update
    })
  }

  async setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void> {
    // BatchWriteItem cannot make a conditional update, so each circuit gets its own UpdateItem.
    await runLimited(entries, SET_MANY_CONCURRENCY, (entry) =>
      this.setForced(
        entry.circuitId,
        entry.forced === undefined ? { now: request.now } : { forced: entry.forced, now: request.now },
        options,
      ),
    )
  }

  async clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void> {
    const unique = [...new Set(circuitIds)]
    for (const chunk of inBatches(unique, BATCH_WRITE_LIMIT)) {
      for (const circuitId of chunk) this.#hints.delete(circuitId)
      const requests: WriteRequest[] = chunk.map((circuitId) => ({ DeleteRequest: { Key: this.#key(circuitId) } }))
      await eachWithBackoff(
        { [this.#options.tableName]: requests },
        async (requestItems) => {
          const output = await this.#send<BatchWriteItemCommandOutput>(
            new BatchWriteItemCommand({ RequestItems: requestItems }),
            options,
          )
          const unprocessed = output.UnprocessedItems?.[this.#options.tableName]
          return unprocessed?.length ? { [this.#options.tableName]: unprocessed } : undefined
        },
        options?.signal,
      )
    }
  }

  // ---- building blocks ----------------------------------------------------------------------

  /** Runs one conditional update; on a failed condition, returns the record that stopped it. */
  async #update(circuitId: string, update: UpdateBuilder, options: StoreCallOptions | undefined): Promise<WriteResult> {
    try {
      const output = await this.#send<UpdateItemCommandOutput>(
        new UpdateItemCommand({
          TableName: this.#options.tableName,
          Key: this.#key(circuitId),
          ...update.build(),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
        options,
      )
      const record = this.#decode(circuitId, output.Attributes ?? {}).record
      return { applied: true, record: this.#remember(circuitId, record) }
    } catch (error) {
      if (!isConditionFailure(error) && !isOperandTypeError(error)) throw error
      // DynamoDB returns the item with a failed condition; otherwise one consistent read tells.
      const item = (isConditionFailure(error) ? error.Item : undefined) ?? (await this.#readItem(circuitId, options))
      if (item === undefined) return { applied: false, record: this.#remember(circuitId, initialRecord(circuitId)) }
      const decoded = this.#decode(circuitId, item)
      this.#remember(circuitId, decoded.record)
      // Arithmetic on an attribute of the wrong type fails before any condition is looked at.
      if (decoded.valid && !isConditionFailure(error)) throw error
      return decoded.valid
        ? { applied: false, record: decoded.record }
        : { applied: false, record: decoded.record, invalidItem: item }
    }
  }

  /** For writes that must land on any item: replaces an unreadable item, then writes again. */
  async #writeRepairing(
    circuitId: string,
    now: number,
    options: StoreCallOptions | undefined,
    build: () => UpdateBuilder,
  ): Promise<CircuitRecord> {
    let result = await this.#update(circuitId, build(), options)
    for (let attempt = 1; !result.applied && attempt < MAX_ATTEMPTS; attempt++) {
      if (result.invalidItem !== undefined) await this.#repair(circuitId, result.invalidItem, now, options)
      result = await this.#update(circuitId, build(), options)
    }
    return result.record
  }

  /**
   * Replaces an item the store cannot read with a fresh CLOSED record at the generation it read
   * as, only if it is still unreadable (another environment may have replaced it already).
   */
  async #repair(circuitId: string, item: Item, now: number, options: StoreCallOptions | undefined): Promise<void> {
    const update = this.#touch(new UpdateBuilder(), now)
    update
      .setValue(FlatField.STATE, text(CircuitState.CLOSED))
      .setValue(FlatField.GENERATION, number(repairGeneration(itemToFields(item))))
      .setValue(FlatField.OPEN_COUNT, number(0))
      .setValue(FlatField.CHANGED_AT, number(0))
      .setValue(FlatField.FAILURES, number(0))
      .remove(...STATE_FIELDS, ...FORCED_FIELDS)
    update.when(`attribute_exists(${update.name(this.#options.partitionKey)})`)
    update.when(`NOT (${this.#validClause(update)})`)
    await this.#update(circuitId, update, options)
  }

  async #readItem(circuitId: string, options: StoreCallOptions | undefined): Promise<Item | undefined> {
    const output = await this.#send<GetItemCommandOutput>(
      new GetItemCommand({ TableName: this.#options.tableName, Key: this.#key(circuitId), ConsistentRead: true }),
      options,
    )
    return output.Item
  }

  /** Guard: the circuit is CLOSED at `generation` (a circuit with no item is CLOSED at 0). */
  #closedAt(update: UpdateBuilder, generation: number): void {
    this.#stateAt(update, CircuitState.CLOSED, generation)
  }

  /** Guard: the circuit is in `state` at `generation`. */
  #stateAt(update: UpdateBuilder, state: CircuitState, generation: number): void {
    const stateName = update.name(FlatField.STATE)
    const clause = `${stateName} = ${update.value(text(state))} AND ${update.name(FlatField.GENERATION)} = ${update.value(number(generation))}`
    const absentMeansThis = state === CircuitState.CLOSED && generation === 0
    update.when(absentMeansThis ? `attribute_not_exists(${stateName}) OR (${clause})` : clause)
  }

  /** Guard: the item is absent or readable, so arithmetic on its attributes cannot fail. */
  #validOrAbsent(update: UpdateBuilder): void {
    update.when(`attribute_not_exists(${update.name(FlatField.STATE)}) OR (${this.#validClause(update)})`)
  }

  /** What `decodeFlatRecord` accepts, as a condition: a known state with its numeric fields. */
  #validClause(update: UpdateBuilder): string {
    const state = update.name(FlatField.STATE)
    const numeric = update.value(text('N'))
    const isNumber = (field: string) => `attribute_type(${update.name(field)}, ${numeric})`
    const [closed, open, halfOpen] = [CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN].map((name) =>
      update.value(text(name)),
    )
    return [
      `${state} IN (${closed}, ${open}, ${halfOpen})`,
      isNumber(FlatField.GENERATION),
      isNumber(FlatField.OPEN_COUNT),
      isNumber(FlatField.CHANGED_AT),
      `(${state} <> ${closed} OR ${isNumber(FlatField.FAILURES)})`,
      `(${state} <> ${open} OR ${isNumber(FlatField.RETRY_AT)})`,
      `(${state} <> ${halfOpen} OR ${isNumber(FlatField.SUCCESSES)})`,
    ].join(' AND ')
  }

  /**
   * Gives an item that may not exist yet the common fields of a fresh CLOSED record (the
   * generation too, unless the caller sets it itself).
   */
  #createIfAbsent(update: UpdateBuilder, { withGeneration }: { withGeneration: boolean }): void {
    const zero = update.value(number(0))
    const keep = (field: string, value: string) => update.set(field, `if_not_exists(${update.name(field)}, ${value})`)
    keep(FlatField.STATE, update.value(text(CircuitState.CLOSED)))
    keep(FlatField.OPEN_COUNT, zero)
    keep(FlatField.CHANGED_AT, zero)
    if (withGeneration) keep(FlatField.GENERATION, zero)
  }

  /** Pushes the item's expiry to a TTL after `from`. */
  #touch(update: UpdateBuilder, from: number): UpdateBuilder {
    const { ttlAttribute, ttlSeconds } = this.#options
    if (ttlAttribute !== undefined) update.setValue(ttlAttribute, number(Math.floor(from / 1000) + ttlSeconds))
    return update
  }

  #dropTtl(update: UpdateBuilder): void {
    if (this.#options.ttlAttribute !== undefined) update.remove(this.#options.ttlAttribute)
  }

  #keyValue(circuitId: string): string {
    return `${this.#options.keyPrefix}${circuitId}`
  }

  #key(circuitId: string): Item {
    const { partitionKey, sortKey } = this.#options
    const key: Item = { [partitionKey]: text(this.#keyValue(circuitId)) }
    if (sortKey !== undefined) key[sortKey.name] = text(sortKey.value)
    return key
  }

  #decode(circuitId: string, item: Item) {
    const decoded = decodeFlatRecord(circuitId, itemToFields(item))
    if (!decoded.valid) this.#invalid.report(circuitId, decoded.reason)
    return decoded
  }

  #remember(circuitId: string, record: CircuitRecord): CircuitRecord {
    this.#hints.delete(circuitId)
    if (this.#hints.size >= MAX_HINTS) {
      const oldest = this.#hints.keys().next().value
      if (oldest !== undefined) this.#hints.delete(oldest)
    }
    this.#hints.set(circuitId, record)
    return record
  }

  #send<Output>(command: object, options: StoreCallOptions | undefined): Promise<Output> {
    options?.signal?.throwIfAborted()
    const client = this.#options.client as unknown as Pick<DynamoDBClient, 'send'>
    const send = client.send.bind(client) as (
      command: object,
      options: { abortSignal?: AbortSignal },
    ) => Promise<Output>
    return send(command, options?.signal === undefined ? {} : { abortSignal: options.signal })
  }
}

function isConditionFailure(error: unknown): error is Error & { Item?: Item } {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException'
}

/** The error an update gets when an attribute it does arithmetic on holds a value of another type. */
function isOperandTypeError(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.name === 'ValidationException' &&
    /incorrect (data|operand) type/i.test(error.message)
  )
}
