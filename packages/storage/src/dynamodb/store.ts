import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandOutput,
  type KeysAndAttributes,
  QueryCommand,
  type QueryCommandOutput,
  ScanCommand,
  type ScanCommandOutput,
  UpdateItemCommand,
  type UpdateItemCommandOutput,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb'
import {
  type AcquireProbeRequest,
  type AddCountsRequest,
  type AddFailureRequest,
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyResetFailures,
  applySetForced,
  applySetShadow,
  applyTransition,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  type CompleteProbeRequest,
  countWindowIsOpen,
  decodeFlatRecord,
  decodeListCursor,
  encodeHistory,
  encodeListCursor,
  FlatField,
  HistoryAction,
  type HistoryEntry,
  historyEntry,
  initialRecord,
  isPlainObject,
  type ListedCircuit,
  type ListPage,
  type ListRequest,
  listLimit,
  MAX_FAILING_ENVIRONMENTS,
  type OperatorNote,
  type OverrideRequest,
  type ProbeLease,
  type ProbeOutcome,
  type ResetFailuresRequest,
  type ResetRequest,
  repairGeneration,
  type SetForcedRequest,
  type SetManyEntry,
  type SetManyRequest,
  type SetShadowRequest,
  type StoreCallOptions,
  setForcedEntry,
  setShadowEntry,
  type TransitionOutcome,
  type TransitionRequest,
  windowIsOpen,
  withHistory,
} from '@fleet-breaker/core'
import { InvalidRecordReporter } from '../invalid-records.js'
import { type Item, itemToFields, text } from './attributes.js'
import type { UpdateBuilder } from './expression.js'
import { type DynamoDBStoreOptions, type ResolvedDynamoDBStoreOptions, resolveDynamoDBStoreOptions } from './options.js'
import { eachWithBackoff, inBatches, runLimited } from './retry.js'
import { type ServiceClock, serviceClockOf, shiftRecord } from './service-clock.js'
import { blemishesOf, CircuitUpdates, type HistoryWrite, type OpsChoice, opsChoice, WindowForm } from './updates.js'

/** BatchGetItem reads at most 100 keys a request; BatchWriteItem writes at most 25 items. */
const BATCH_GET_LIMIT = 100
const BATCH_WRITE_LIMIT = 25
/** How many overrides `setMany` writes at once. */
const SET_MANY_CONCURRENCY = 10
/** Bounds the compare-and-retry loops; each retry means another writer won a race meanwhile. */
const MAX_ATTEMPTS = 6
/** How many circuits' last-seen items an instance keeps as hints. */
const MAX_HINTS = 1_000

/** What the store knows of a circuit's item at one moment. Times are the service's. */
interface Seen {
  readonly record: CircuitRecord
  /** The item as DynamoDB sent it; `undefined` when there is none. */
  readonly item: Item | undefined
  /** The item is not a record (foreign or corrupt data): it is replaced before any write to it. */
  readonly unreadable: boolean
}

/** The result of one conditional write: the item it produced, or the item that stopped it. */
interface WriteResult {
  readonly applied: boolean
  readonly seen: Seen
}

/** The time a write decides with. */
interface WriteTime {
  /** Milliseconds added to the caller's `now` to get the service's time. */
  readonly offset: number
  /** The caller's `now` in the service's time. */
  readonly t: number
  /** The item as read during this call, before the write, when a read was needed to learn the time. */
  readonly seen: Seen | undefined
}

/** What an operation does next, decided from what the store knows of the item. */
type Step<T> =
  | { readonly kind: 'answer'; readonly answer: T }
  | { readonly kind: 'read' }
  | { readonly kind: 'write'; readonly update: UpdateBuilder; readonly answer: (seen: Seen) => T }

function answer<T>(value: T): Step<T> {
  return { kind: 'answer', answer: value }
}

function nothingSeen(circuitId: string): Seen {
  return { record: initialRecord(circuitId), item: undefined, unreadable: false }
}

/**
 * A {@link CircuitStore} on a DynamoDB table, one item per circuit.
 *
 * **Atomic writes.** Every change is one conditional `UpdateItem`: counters with `ADD`, transitions
 * and probe leases with conditions on the circuit's generation and state, `ReturnValues: ALL_NEW`
 * so a write says what it produced, and `ReturnValuesOnConditionCheckFailure: ALL_OLD` so a lost
 * race says who won without another read. There is no unconditional whole-item write.
 *
 * **Idempotent writes.** Every write carries its op id. A transition, an override or a reset
 * writes it as `changedBy`; a counting write (a failure, a rate report, a reset of the count, a
 * probe's end) appends it to the item's `recentOps` list in the same update that checks it is not
 * there yet (`NOT contains(...)`). Writes that name an incarnation are conditional on it too. A request the SDK retries after its first attempt was applied (the
 * connection reset, or the service answered 500) therefore fails its condition and changes
 * nothing, and the answer that comes back (`ALL_OLD`) shows the store that it was its own: the
 * retried transition answers `applied: true`, the retried probe finds its lease, the retried
 * failure is counted once.
 *
 * **The service's clock.** DynamoDB cannot read a clock in an expression, but every answer carries
 * the service's time in its `Date` header. The store learns the offset between the caller's clock
 * and the service's from those headers (see `ServiceClock`), decides and stores times in service
 * time, and returns records in the caller's clock. Environments whose clocks agree with the service
 * within half a second decide with their own `now` unchanged.
 *
 * **Hints.** The last item each instance saw of a circuit chooses which form of a write to try
 * first (which window form, which probe slot). Hints never decide that a write is unnecessary:
 * only an answer from the service (a write's or a consistent read's) does.
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
  readonly #updates: CircuitUpdates
  /** The service's clock as this instance knows it; `undefined` for a client without middleware. */
  readonly #clock: ServiceClock | undefined
  /** Set when a read meant to learn the service's time brought no `Date` header back. */
  #clockUnobservable = false
  /** A read under way to learn the service's time, shared by the writes waiting for it. */
  #clockRead: Promise<void> | undefined
  readonly #hints = new Map<string, Seen>()

  constructor(options: DynamoDBStoreOptions) {
    this.#options = resolveDynamoDBStoreOptions(options)
    this.#invalid = new InvalidRecordReporter(this.#options.logger, 'dynamodb')
    this.#updates = new CircuitUpdates({ attribute: this.#options.ttlAttribute, seconds: this.#options.ttlSeconds })
    this.#clock = serviceClockOf(this.#options.client, this.#options.now)
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

  /**
   * What this instance knows of the offset between the caller's clock and the service's: the
   * milliseconds it adds to a caller's `now` to get the service's time (0 while they agree), or
   * `undefined` before any answer.
   *
   * @example
   * ```ts
   * await store.get('payment-api')
   * console.log(`this machine is ${-(store.serviceClockOffset() ?? 0)} ms ahead of DynamoDB`)
   * ```
   */
  serviceClockOffset(): number | undefined {
    return this.#clock?.offset()
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
    if (output?.Item === undefined) return undefined
    return this.#toCaller(this.#see(circuitId, output.Item).record, this.#readTime())
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
          const time = this.#readTime()
          for (const item of output?.Responses?.[this.#options.tableName] ?? []) {
            const circuitId = byKey.get(item[this.#options.partitionKey]?.S ?? '')
            if (circuitId !== undefined) found.set(circuitId, this.#toCaller(this.#see(circuitId, item).record, time))
          }
          const unprocessed = output?.UnprocessedKeys?.[this.#options.tableName]
          return unprocessed?.Keys?.length ? { [this.#options.tableName]: unprocessed } : undefined
        },
        options?.signal,
      )
    }
    return found
  }

  // ---- counting failures ------------------------------------------------------------------------

  async addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const { t } = time
    const inServiceTime = { ...request, now: t }
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const chooseOps = opsChooser()
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      const current = seen.record
      if (authoritative && applyAddFailure(current, inServiceTime) === current) return answer(toCaller(seen))
      const open = current.state === CircuitState.CLOSED && windowIsOpen(current, t, request.windowMs)
      const fresh = current.state !== CircuitState.CLOSED || (current.failures === 0 && !current.windowStartedAt)
      const form = open || fresh ? WindowForm.COUNT : WindowForm.START
      const environment = environmentChoice(current, request.environment, open)
      const update = this.#updates.addFailure(form, request, t, chooseOps(seen), environment)
      return { kind: 'write', update, answer: toCaller }
    })
  }

  async addCounts(circuitId: string, request: AddCountsRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const { t } = time
    const inServiceTime = { ...request, now: t }
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const chooseOps = opsChooser()
    const reporter = request.failures > 0 ? request.environment : undefined
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      const current = seen.record
      if (authoritative && applyAddCounts(current, inServiceTime) === current) return answer(toCaller(seen))
      const closed = current.state === CircuitState.CLOSED ? current : undefined
      const open = closed !== undefined && countWindowIsOpen(closed, t, request.windowMs)
      const fresh =
        closed === undefined ||
        (closed.windowStartedAt === undefined &&
          closed.failures === 0 &&
          (closed.calls ?? 0) === 0 &&
          (closed.slowCalls ?? 0) === 0)
      const form = open || fresh ? WindowForm.COUNT : WindowForm.START
      const environment = environmentChoice(current, reporter, open)
      const update = this.#updates.addCounts(form, request, t, chooseOps(seen), environment)
      return { kind: 'write', update, answer: toCaller }
    })
  }

  async resetFailures(
    circuitId: string,
    request: ResetFailuresRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    // Nothing here depends on time but the item's expiry: the offset known (if any) will do.
    const time = this.#timeKnown(request.now)
    const inServiceTime = { ...request, now: time.t }
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const chooseOps = opsChooser()
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      const current = seen.record
      if (authoritative && applyResetFailures(current, inServiceTime) === current) return answer(toCaller(seen))
      return { kind: 'write', update: this.#updates.resetFailures(request, time.t, chooseOps(seen)), answer: toCaller }
    })
  }

  // ---- transitions and probes -----------------------------------------------------------------

  async transition(
    circuitId: string,
    request: TransitionRequest,
    options?: StoreCallOptions,
  ): Promise<TransitionOutcome> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const inServiceTime = { ...request, now: time.t }
    const outcome = (applied: boolean, seen: Seen): TransitionOutcome => ({
      applied,
      record: this.#toCaller(seen.record, time),
    })
    // A transition that did not apply answers with the current record, and with `applied: true`
    // when that record's generation was made by this very request (its first attempt applied).
    const settled = (seen: Seen) => outcome(seen.record.changedBy === request.opId, seen)
    return this.#settle(circuitId, time, options, settled, (seen, authoritative) => {
      if (authoritative) {
        const decided = applyTransition(seen.record, inServiceTime)
        if (decided.record === seen.record) return answer(outcome(decided.applied, seen))
      }
      return {
        kind: 'write',
        update: this.#updates.transition(request, time.t),
        answer: (produced) => outcome(true, produced),
      }
    })
  }

  async acquireProbe(
    circuitId: string,
    request: AcquireProbeRequest,
    options?: StoreCallOptions,
  ): Promise<ProbeOutcome> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const { t } = time
    const inServiceTime = { ...request, now: t }
    const refused = (seen: Seen): ProbeOutcome => ({ record: this.#toCaller(seen.record, time) })
    const granted = (lease: ProbeLease, seen: Seen): ProbeOutcome => ({
      lease: { ...lease, expiresAt: lease.expiresAt - time.offset },
      record: this.#toCaller(seen.record, time),
    })
    return this.#settle(circuitId, time, options, refused, (seen, authoritative) => {
      const decided = applyAcquireProbe(seen.record, inServiceTime)
      const lease = decided.lease
      if (authoritative) {
        if (lease === undefined) return answer(refused(seen))
        // The caller holds this lease already (its request applied before): answer with it.
        if (decided.record === seen.record) return answer(granted(lease, seen))
      } else if (lease === undefined && seen.item !== undefined) {
        // The hint says no slot is free, but it may be older than the request: ask the service.
        return { kind: 'read' }
      }
      const slot = lease?.slot ?? 0
      return {
        kind: 'write',
        update: this.#updates.acquireProbe(request, slot, t),
        answer: (produced) => granted({ slot, token: request.token, expiresAt: t + request.leaseMs }, produced),
      }
    })
  }

  async completeProbe(
    circuitId: string,
    request: CompleteProbeRequest,
    options?: StoreCallOptions,
  ): Promise<CircuitRecord> {
    // Like resetFailures, nothing here compares times.
    const time = this.#timeKnown(request.now)
    const inServiceTime = { ...request, now: time.t }
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const chooseOps = opsChooser()
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      const current = seen.record
      if (applyCompleteProbe(current, inServiceTime) === current) {
        // Nothing to do by this view; a hint may be older than the request (the lease taken by an
        // answer that came late), so only the service's word ends a probe without a write.
        return authoritative ? answer(toCaller(seen)) : { kind: 'read' }
      }
      const held =
        current.state === CircuitState.HALF_OPEN ? current.probes.find((l) => l.token === request.token) : undefined
      const update = this.#updates.completeProbe(request, held?.slot, time.t, chooseOps(seen))
      return { kind: 'write', update, answer: toCaller }
    })
  }

  // ---- manual control -----------------------------------------------------------------------

  async setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    return this.#setForced(circuitId, request.forced, request, time, options)
  }

  #setForced(
    circuitId: string,
    forced: OverrideRequest | undefined,
    request: OperatorNote & { readonly opId: string; readonly onlyIfActor?: string; readonly orNoOverride?: boolean },
    time: WriteTime,
    options: StoreCallOptions | undefined,
  ): Promise<CircuitRecord> {
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const write = { ...request, now: time.t }
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      // Applied before (this request made the current generation), or another actor's override: nothing to change.
      if (authoritative && applySetForced(seen.record, forced, write) === seen.record) return answer(toCaller(seen))
      const history = historyWrite(seen, setForcedEntry(forced, request, time.t))
      return { kind: 'write', update: this.#updates.setForced(forced, request, time.t, history), answer: toCaller }
    })
  }

  async setShadow(circuitId: string, request: SetShadowRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    const { shadow, opId } = request
    const write = { ...request, now: time.t }
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      // Applied before (this request made the current generation): nothing to change.
      if (authoritative && applySetShadow(seen.record, shadow, write) === seen.record) return answer(toCaller(seen))
      const history = historyWrite(seen, setShadowEntry(shadow, request, time.t))
      return { kind: 'write', update: this.#updates.setShadow(shadow, opId, time.t, history), answer: toCaller }
    })
  }

  async reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    const time = await this.#timeForWrite(circuitId, request.now, options)
    const toCaller = (seen: Seen) => this.#toCaller(seen.record, time)
    return this.#settle(circuitId, time, options, toCaller, (seen, authoritative) => {
      // Applied before (this request made the current generation): nothing to change.
      if (authoritative && seen.record.changedBy === request.opId) return answer(toCaller(seen))
      const history = historyWrite(seen, historyEntry(HistoryAction.RESET, time.t, request))
      return { kind: 'write', update: this.#updates.reset(request.opId, time.t, history), answer: toCaller }
    })
  }

  /**
   * One page of circuits, by a `Scan` of the table (`Limit` items read per page). In single-table
   * mode the scan reads every item of the table and keeps those of this store (its key prefix and
   * sort key value): the other items are read, and paid for, too, unless `listIndexName` names an
   * inverted index, which is queried for the circuits alone. Items that are not valid records are
   * logged and left out.
   */
  async list(request: ListRequest, options?: StoreCallOptions): Promise<ListPage> {
    const limit = listLimit(request)
    const { tableName, partitionKey, sortKey, keyPrefix, listIndexName } = this.#options
    const startKey = decodeListCursor(request.cursor, (value): value is Item =>
      isKeyOf(value, partitionKey, sortKey?.name),
    )
    const page = {
      TableName: tableName,
      Limit: limit,
      ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
    }
    const output =
      listIndexName !== undefined && sortKey !== undefined
        ? await this.#send<QueryCommandOutput>(
            new QueryCommand({
              ...page,
              IndexName: listIndexName,
              ...listKeyCondition(partitionKey, keyPrefix, sortKey),
            }),
            options,
          )
        : await this.#send<ScanCommandOutput>(
            new ScanCommand({
              ...page,
              ConsistentRead: this.#options.consistentReads,
              ...listFilter(partitionKey, keyPrefix, sortKey),
            }),
            options,
          )
    const time = this.#readTime()
    const circuits: ListedCircuit[] = []
    for (const item of output?.Items ?? []) {
      const key = item[partitionKey]?.S
      if (key === undefined || !key.startsWith(keyPrefix)) continue
      if (sortKey !== undefined && item[sortKey.name]?.S !== sortKey.value) continue
      const circuitId = key.slice(keyPrefix.length)
      if (circuitId === '') continue
      const seen = this.#decode(circuitId, item)
      if (seen.unreadable) continue
      circuits.push({ circuitId, record: this.#toCaller(seen.record, time) })
    }
    const last = output?.LastEvaluatedKey
    return last === undefined ? { circuits } : { circuits, cursor: encodeListCursor(last) }
  }

  async setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void> {
    const first = entries[0]
    if (first === undefined) return
    const learnt = await this.#timeForWrite(first.circuitId, request.now, options)
    // BatchWriteItem cannot make a conditional update, so each circuit gets its own UpdateItem.
    await runLimited(entries, SET_MANY_CONCURRENCY, (entry) =>
      this.#setForced(
        entry.circuitId,
        entry.forced,
        request,
        { ...learnt, seen: entry.circuitId === first.circuitId ? learnt.seen : undefined },
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
          const unprocessed = output?.UnprocessedItems?.[this.#options.tableName]
          return unprocessed?.length ? { [this.#options.tableName]: unprocessed } : undefined
        },
        options?.signal,
      )
    }
  }

  // ---- the write loop -------------------------------------------------------------------------

  /**
   * Runs an operation to its answer. `next` looks at what the store knows of the item (first the
   * hint, then each answer from the service) and says what to do: answer, read, or write. An
   * unreadable item is replaced first. `authoritative` is true for what the service has said during
   * this call, false for a hint, which may only choose a write, never skip one.
   */
  async #settle<T>(
    circuitId: string,
    time: WriteTime,
    options: StoreCallOptions | undefined,
    giveUp: (seen: Seen) => T,
    next: (seen: Seen, authoritative: boolean) => Step<T>,
  ): Promise<T> {
    const t = time.t
    let seen = time.seen ?? this.#hints.get(circuitId) ?? nothingSeen(circuitId)
    let authoritative = time.seen !== undefined
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (seen.unreadable && seen.item !== undefined) {
        seen = (await this.#update(circuitId, this.#repairOf(seen.item, t), t, options)).seen
        authoritative = true
        continue
      }
      const step = next(seen, authoritative)
      if (step.kind === 'answer') return step.answer
      if (step.kind === 'read') {
        seen = await this.#read(circuitId, options)
        authoritative = true
        continue
      }
      const result = await this.#update(circuitId, step.update, t, options)
      if (result.applied) return step.answer(result.seen)
      seen = result.seen
      authoritative = true
    }
    return giveUp(seen)
  }

  /** Runs one conditional update; on a failed condition, returns the item that stopped it. */
  async #update(
    circuitId: string,
    update: UpdateBuilder,
    t: number,
    options: StoreCallOptions | undefined,
  ): Promise<WriteResult> {
    try {
      const output = await this.#send<UpdateItemCommandOutput>(this.#updateCommand(circuitId, update), options)
      const seen = this.#see(circuitId, output?.Attributes ?? {})
      // Applied to an item that is not a record (a fractional count the condition cannot tell):
      // not a result to answer with; the loop replaces the item and writes again.
      if (seen.unreadable) return { applied: false, seen }
      // The write's own record is its answer, whatever becomes of the clean-up after it.
      await this.#cleanUp(circuitId, seen, t, options)
      return { applied: true, seen }
    } catch (error) {
      if (!isConditionFailure(error) && !isOperandTypeError(error)) throw error
      // DynamoDB returns the item with a failed condition; otherwise one consistent read tells.
      const item = (isConditionFailure(error) ? error.Item : undefined) ?? (await this.#readItem(circuitId, options))
      const seen = this.#see(circuitId, item)
      // Arithmetic on an attribute of the wrong type fails before any condition is looked at; on an
      // item with nothing wrong it is a defect, not a race.
      if (isOperandTypeError(error) && !seen.unreadable && blemishesOf(item ?? {}).length === 0) throw error
      return { applied: false, seen: await this.#cleanUp(circuitId, seen, t, options) }
    }
  }

  /**
   * Cleans up what is wrong with a readable item (see {@link blemishesOf}), once, conditionally,
   * and at best: reading the item already left the blemishes out, so a clean-up that is refused
   * (the item changed since) or fails (throttled, out of time) is left to the next write, never
   * the caller's error. Returns the item as it now stands when the clean-up applied, else `seen`.
   */
  async #cleanUp(circuitId: string, seen: Seen, t: number, options: StoreCallOptions | undefined): Promise<Seen> {
    if (seen.item === undefined || seen.unreadable) return seen
    const blemishes = blemishesOf(seen.item)
    if (blemishes.length === 0) return seen
    const update = this.#updates.cleanUp(seen.item, blemishes, t)
    try {
      const output = await this.#send<UpdateItemCommandOutput>(this.#updateCommand(circuitId, update), options)
      return this.#see(circuitId, output?.Attributes ?? {})
    } catch {
      // The item as seen stays the hint: a write built on it that no longer matches is refused
      // and answered with the item as it stands, like any other race.
      return seen
    }
  }

  #repairOf(item: Item, t: number): UpdateBuilder {
    return this.#updates.repair(item, repairGeneration(itemToFields(item)), t)
  }

  #updateCommand(circuitId: string, update: UpdateBuilder): UpdateItemCommand {
    return new UpdateItemCommand({
      TableName: this.#options.tableName,
      Key: this.#key(circuitId),
      ...update.build(),
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    })
  }

  /** A consistent read: what the service holds now. */
  async #read(circuitId: string, options: StoreCallOptions | undefined): Promise<Seen> {
    return this.#see(circuitId, await this.#readItem(circuitId, options))
  }

  async #readItem(circuitId: string, options: StoreCallOptions | undefined): Promise<Item | undefined> {
    const output = await this.#send<GetItemCommandOutput>(
      new GetItemCommand({ TableName: this.#options.tableName, Key: this.#key(circuitId), ConsistentRead: true }),
      options,
    )
    return output?.Item
  }

  /** Reads an item (or its absence), reports what is wrong with it once, and keeps it as the hint. */
  #see(circuitId: string, item: Item | undefined): Seen {
    const seen = item === undefined ? nothingSeen(circuitId) : this.#decode(circuitId, item)
    this.#remember(circuitId, seen)
    return seen
  }

  #decode(circuitId: string, item: Item): Seen {
    const decoded = decodeFlatRecord(circuitId, itemToFields(item))
    if (!decoded.valid) {
      this.#invalid.report(circuitId, decoded.reason)
      return { record: decoded.record, item, unreadable: true }
    }
    const blemishes = blemishesOf(item)
    if (blemishes.length > 0) this.#invalid.report(circuitId, `malformed ${blemishes.join(', ')}`)
    return { record: decoded.record, item, unreadable: false }
  }

  #remember(circuitId: string, seen: Seen): void {
    this.#hints.delete(circuitId)
    if (this.#hints.size >= MAX_HINTS) {
      const oldest = this.#hints.keys().next().value
      if (oldest !== undefined) this.#hints.delete(oldest)
    }
    this.#hints.set(circuitId, seen)
  }

  // ---- time -----------------------------------------------------------------------------------

  /** A record in the service's time, moved into the caller's clock. */
  #toCaller(record: CircuitRecord, time: { readonly offset: number }): CircuitRecord {
    return shiftRecord(record, -time.offset)
  }

  /** The time of a write that compares no times: the offset known, if any. */
  #timeKnown(now: number): WriteTime {
    const offset = this.#clock?.offset() ?? 0
    return { offset, t: now + offset, seen: undefined }
  }

  /** The offset for a read's answer: what the answer itself has just taught the clock. */
  #readTime(): { readonly offset: number } {
    return { offset: this.#clock?.offset() ?? 0 }
  }

  /**
   * The offset a write that decides with time uses. With no recent answer to go by (an operator's
   * first `setForced` from a laptop minutes off, an environment's first write after a long pause),
   * one read of the circuit learns it first; that read also tells the write what the item holds.
   */
  async #timeForWrite(circuitId: string, now: number, options: StoreCallOptions | undefined): Promise<WriteTime> {
    const clock = this.#clock
    const known = clock?.offset()
    if (clock === undefined || known !== undefined || this.#clockUnobservable) {
      return { offset: known ?? 0, t: now + (known ?? 0), seen: undefined }
    }
    let seen: Seen | undefined
    if (this.#clockRead === undefined) {
      const read = this.#readForClock(circuitId, options)
      this.#clockRead = read.then(
        () => undefined,
        () => undefined,
      )
      seen = await read.finally(() => {
        this.#clockRead = undefined
      })
    } else {
      // Another write is already asking; its answer is about another moment (or circuit): only its time is used.
      await this.#clockRead
    }
    const offset = clock.offset() ?? 0
    return { offset, t: now + offset, seen }
  }

  /**
   * Reads the circuit to learn the service's time. Returns what it read when the read was
   * consistent (so a write may act on it), and nothing when it failed: the write that asked will
   * meet the same trouble and report it, deciding meanwhile with the caller's clock.
   */
  async #readForClock(circuitId: string, options: StoreCallOptions | undefined): Promise<Seen | undefined> {
    let output: GetItemCommandOutput | undefined
    try {
      output = await this.#send<GetItemCommandOutput>(
        new GetItemCommand({
          TableName: this.#options.tableName,
          Key: this.#key(circuitId),
          ConsistentRead: this.#options.consistentReads,
        }),
        options,
      )
    } catch {
      return undefined
    }
    // An answer without a `Date` header reached the store (a client whose middleware does not run):
    // there is nothing to learn from asking again.
    if (this.#clock?.offset() === undefined) this.#clockUnobservable = true
    const seen = this.#see(circuitId, output?.Item)
    return this.#options.consistentReads && output !== undefined ? seen : undefined
  }

  // ---- plumbing -------------------------------------------------------------------------------

  #keyValue(circuitId: string): string {
    return `${this.#options.keyPrefix}${circuitId}`
  }

  #key(circuitId: string): Item {
    const { partitionKey, sortKey } = this.#options
    const key: Item = { [partitionKey]: text(this.#keyValue(circuitId)) }
    if (sortKey !== undefined) key[sortKey.name] = text(sortKey.value)
    return key
  }

  /**
   * Sends one command. A call without a signal of its own (a direct call from a tool) gets one that
   * aborts at `callTimeoutMs`, so an endpoint that never answers cannot hold it forever.
   */
  async #send<Output>(command: object, options: StoreCallOptions | undefined): Promise<Output | undefined> {
    options?.signal?.throwIfAborted()
    const client = this.#options.client as unknown as Pick<DynamoDBClient, 'send'>
    const send = client.send.bind(client) as (
      command: object,
      options: { abortSignal?: AbortSignal },
    ) => Promise<Output | undefined>
    if (options?.signal !== undefined) return send(command, { abortSignal: options.signal })
    const timeoutMs = this.#options.callTimeoutMs
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new DynamoDBCallTimeoutError(timeoutMs)), timeoutMs)
    try {
      return await send(command, { abortSignal: controller.signal })
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error
    } finally {
      clearTimeout(timer)
    }
  }
}

/** The history an operator write stores: the one seen with `entry` appended, guarded by the attribute seen. */
function historyWrite(seen: Seen, entry: HistoryEntry): HistoryWrite {
  return { seen: seen.item?.[FlatField.HISTORY], next: encodeHistory(withHistory(seen.record, entry)) }
}

/** Whether a cursor's position is a key of this table: string attributes under the key names only. */
function isKeyOf(value: unknown, partitionKey: string, sortKeyName: string | undefined): value is Item {
  if (!isPlainObject(value)) return false
  const names = Object.keys(value)
  const expected = sortKeyName === undefined ? [partitionKey] : [partitionKey, sortKeyName]
  return (
    names.length === expected.length &&
    expected.every((name) => {
      const attribute = value[name]
      return isPlainObject(attribute) && typeof attribute.S === 'string' && Object.keys(attribute).length === 1
    })
  )
}

/** The scan filter that keeps this store's items (a prefix, a sort key value); none when every item is one. */
function listFilter(partitionKey: string, keyPrefix: string, sortKey: { name: string; value: string } | undefined) {
  const clauses: string[] = []
  const names: Record<string, string> = {}
  const values: Record<string, { S: string }> = {}
  if (keyPrefix !== '') {
    names['#pk'] = partitionKey
    values[':prefix'] = { S: keyPrefix }
    clauses.push('begins_with(#pk, :prefix)')
  }
  if (sortKey !== undefined) {
    names['#sk'] = sortKey.name
    values[':sk'] = { S: sortKey.value }
    clauses.push('#sk = :sk')
  }
  if (clauses.length === 0) return {}
  return {
    FilterExpression: clauses.join(' AND '),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  }
}

/** The key condition that finds this store's circuits in the inverted index: the sort key value, the prefix. */
function listKeyCondition(partitionKey: string, keyPrefix: string, sortKey: { name: string; value: string }) {
  return {
    KeyConditionExpression: keyPrefix === '' ? '#sk = :sk' : '#sk = :sk AND begins_with(#pk, :prefix)',
    ExpressionAttributeNames: { '#sk': sortKey.name, ...(keyPrefix === '' ? {} : { '#pk': partitionKey }) },
    ExpressionAttributeValues: {
      ':sk': { S: sortKey.value },
      ...(keyPrefix === '' ? {} : { ':prefix': { S: keyPrefix } }),
    },
  }
}

/**
 * How each attempt of one call adds its op id to the item's list (see `opsChoice`): a roll-over
 * that lost to another writer is not tried again while an append fits.
 */
function opsChooser(): (seen: Seen) => OpsChoice {
  let rollLost = false
  return (seen) => {
    const choice = opsChoice(seen.item, rollLost)
    if (choice.roll) rollLost = true
    return choice
  }
}

/**
 * Whether a count adds the reporting environment to the window's list: not when none reports,
 * always in a new window, otherwise when it is not listed yet and there is room (the condition
 * checks what the record seen suggests).
 */
function environmentChoice(record: CircuitRecord, environment: string | undefined, windowOpen: boolean) {
  if (environment === undefined) return 'none' as const
  if (record.state !== CircuitState.CLOSED || !windowOpen) return 'add' as const
  const listed = record.failingEnvironments ?? []
  return listed.includes(environment) || listed.length >= MAX_FAILING_ENVIRONMENTS
    ? ('keep' as const)
    : ('add' as const)
}

/** Thrown by a store call without a signal of its own when DynamoDB does not answer in time. */
class DynamoDBCallTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`fleet-breaker: DynamoDB did not answer within ${timeoutMs} ms (the store's callTimeoutMs)`)
    this.name = 'TimeoutError'
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
