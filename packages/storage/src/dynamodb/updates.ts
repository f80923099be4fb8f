import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import {
  CHANGE_FIELDS,
  CircuitState,
  changeField,
  changeValue,
  decodeHistory,
  encodeHistory,
  FlatField,
  isChangeValue,
  isOpId,
  MAX_FAILING_ENVIRONMENTS,
  MAX_PROBE_SLOTS,
  MAX_RECENT_OPS,
  type OverrideRequest,
  overrideAt,
  PROBE_FIELDS,
  probeExpiresField,
  probeTokenField,
  type ShadowRequest,
  shadowAt,
  type TransitionRequest,
} from '@fleet-breaker/core'
import { type Item, isScalar, number, text, texts, typeOf } from './attributes.js'
import { UpdateBuilder } from './expression.js'

/*
 * The conditional updates of DynamoDBStore, one builder per form of each operation. Every time in
 * them is the service's (`t`), every condition clause says what it guards, and every write that
 * counts or makes a generation names itself by its op id, so the same request applied twice
 * (the SDK retrying after a lost answer) changes nothing the second time.
 */

/** The attributes a record may hold besides the common ones; a transition removes those it does not set. */
const STATE_FIELDS: readonly string[] = [
  FlatField.FAILURES,
  FlatField.WINDOW_STARTED_AT,
  FlatField.CALLS,
  FlatField.SLOW_CALLS,
  FlatField.FAILING_ENVIRONMENTS,
  FlatField.RETRY_AT,
  FlatField.SUCCESSES,
  ...PROBE_FIELDS,
]
const FORCED_FIELDS: readonly string[] = [
  FlatField.FORCED_STATE,
  FlatField.FORCED_REASON,
  FlatField.FORCED_SINCE,
  FlatField.FORCED_UNTIL,
  FlatField.FORCED_ACTOR,
]
const SHADOW_FIELDS: readonly string[] = [
  FlatField.SHADOW_SINCE,
  FlatField.SHADOW_UNTIL,
  FlatField.SHADOW_REASON,
  FlatField.SHADOW_ACTOR,
]

/**
 * An operator write's new history: the item's `history` as it was seen (absent, or whatever it
 * held), and the encoded history to replace it with. The write is conditional on the attribute
 * being unchanged, so two operators acting at once each get their entry in (the loser retries).
 */
export interface HistoryWrite {
  readonly seen: AttributeValue | undefined
  readonly next: string
}

/**
 * The item's `recentOps` list holds the op ids of a generation's counting writes, oldest first.
 * Records carry the newest {@link MAX_RECENT_OPS}; the list keeps more so that appends (one
 * `list_append` under a `NOT contains` condition) need no compare-and-swap and never fail for want
 * of room: environments that fail together each append with one write, however many they are. A
 * writer that finds the list at {@link RECENT_OPS_SOFT_LIMIT} or more replaces it, once, by its
 * newest ids and its own (conditionally on the list being the one it saw); if another writer
 * changed the list first, it appends instead. So the item of a busy circuit stays at two write
 * units (32 ids of 36 characters are about 1.2 KB; 40 keep it under 2 KB), and a burst of writes
 * lengthens the list by its size until the next write rolls it over.
 */
export const RECENT_OPS_SOFT_LIMIT = MAX_RECENT_OPS + 8
/**
 * The most op ids the list holds (about 9 KB), so that no burst can grow the item without bound:
 * appends stop there and writers roll the list over instead.
 */
export const RECENT_OPS_HARD_LIMIT = 256

/** The largest whole number a count or generation may reach (see core's flat-record rules). */
const MAX_COUNT = Number.MAX_SAFE_INTEGER

/** How a failure (or a rate report) is counted, chosen from what the store last saw (the conditions decide). */
export const WindowForm = {
  /** Added to the window, creating the item or the window when there is none yet (`if_not_exists`). */
  COUNT: 'count',
  /** The first count of a new window, over a lapsed one or after the count was reset. */
  START: 'start',
} as const
export type WindowForm = (typeof WindowForm)[keyof typeof WindowForm]

/** How an op id joins the item's list: appended, or by a roll-over of the full list seen. */
export type OpsChoice = { readonly roll: false } | { readonly roll: true; readonly seen: SeenOps }

/** What a count does with the reporting environment: nothing, add it, or find it there (or no room). */
export type EnvironmentChoice = 'none' | 'add' | 'keep'

/** The item's `recentOps` list as it was seen: what a roll-over must find unchanged. */
export interface SeenOps {
  /** Every element (all op ids: a list holding anything else is cleaned up first). */
  readonly ids: readonly string[]
  readonly last: AttributeValue
}

/** The item's op-id list, when it is a well-formed, non-empty list. */
function seenOps(item: Item | undefined): SeenOps | undefined {
  const list = item?.[FlatField.RECENT_OPS]?.L
  if (list === undefined || list.length === 0) return undefined
  const ids = list.map((element) => element.S ?? '')
  return { ids, last: list[list.length - 1] as AttributeValue }
}

/**
 * Whether to roll the op-id list over or append to it, from the list seen: a roll once it reaches
 * the soft limit, unless this call's roll already lost to another writer (then an append, while
 * the hard limit allows).
 */
export function opsChoice(item: Item | undefined, rollLost: boolean): OpsChoice {
  const seen = seenOps(item)
  if (seen === undefined || seen.ids.length < RECENT_OPS_SOFT_LIMIT) return { roll: false }
  if (rollLost && seen.ids.length < RECENT_OPS_HARD_LIMIT) return { roll: false }
  return { roll: true, seen }
}

/** Fields of a well-formed record that an item can still get wrong; the next write cleans them up. */
export const Blemish = {
  /** Not a list of op ids. */
  RECENT_OPS: FlatField.RECENT_OPS,
  /** Not a list of environment ids. */
  FAILING_ENVIRONMENTS: FlatField.FAILING_ENVIRONMENTS,
  /** An override end that is not a number: the override is dropped. */
  FORCED_UNTIL: FlatField.FORCED_UNTIL,
  /** Not an op id. */
  CHANGED_BY: FlatField.CHANGED_BY,
  /** History entries that cannot be read (or not a string): the readable entries are kept. */
  HISTORY: FlatField.HISTORY,
} as const
/** One of {@link Blemish}, or a field of core's `changeField` that is not a `changeValue`: it goes. */
export type Blemish = (typeof Blemish)[keyof typeof Blemish] | `change${number}`

/** The blemishes of an item (an item with none is the common case). */
export function blemishesOf(item: Item): Blemish[] {
  const blemishes: Blemish[] = []
  for (const blemish of [Blemish.RECENT_OPS, Blemish.FAILING_ENVIRONMENTS]) {
    const ids = item[blemish]
    if (ids !== undefined && (ids.L === undefined || !ids.L.every((element) => isOpId(element.S)))) {
      blemishes.push(blemish)
    }
  }
  const until = item[FlatField.FORCED_UNTIL]
  if (until !== undefined && (until.N === undefined || !Number.isFinite(Number(until.N)))) {
    blemishes.push(Blemish.FORCED_UNTIL)
  }
  const changedBy = item[FlatField.CHANGED_BY]
  if (changedBy !== undefined && !isOpId(changedBy.S)) blemishes.push(Blemish.CHANGED_BY)
  const history = item[FlatField.HISTORY]
  if (history !== undefined && decodeHistory(history.S ?? history).malformed > 0) blemishes.push(Blemish.HISTORY)
  for (const field of CHANGE_FIELDS) {
    const change = item[field]
    if (change !== undefined && !isChangeValue(change.S)) blemishes.push(field as `change${number}`)
  }
  return blemishes
}

/** The expiry settings of the table. */
export interface TtlSettings {
  readonly attribute: string | undefined
  readonly seconds: number
}

/** Builds the store's conditional updates. */
export class CircuitUpdates {
  readonly #ttl: TtlSettings

  constructor(ttl: TtlSettings) {
    this.#ttl = ttl
  }

  // ---- failures ----------------------------------------------------------------------------

  /** Counts one failure of `opId` at `t` against a closed circuit of `generation`, in `form`. */
  addFailure(
    form: WindowForm,
    request: { opId: string; generation: number; windowMs: number; environment?: string; incarnation?: string },
    t: number,
    ops: OpsChoice,
    environment: EnvironmentChoice,
  ): UpdateBuilder {
    const { opId, generation, windowMs } = request
    const update = this.#touch(new UpdateBuilder(), t)
    const failures = update.name(FlatField.FAILURES)
    const windowStartedAt = update.name(FlatField.WINDOW_STARTED_AT)
    const zero = update.value(number(0))
    const cutoff = update.value(number(t - windowMs))
    // Guards: closed at the caller's generation (a circuit with no item is closed at 0) of the life
    // of the record it names, and this failure not counted yet (a retried request finds its id and
    // changes nothing).
    this.#stateAt(update, CircuitState.CLOSED, generation)
    this.#ofIncarnation(update, request.incarnation)
    this.#recordOp(update, opId, ops)
    this.#createIfAbsent(update, opId, { withGeneration: true })
    if (form === WindowForm.COUNT) {
      update.add(FlatField.FAILURES, number(1))
      update.set(FlatField.WINDOW_STARTED_AT, `if_not_exists(${windowStartedAt}, ${update.value(number(t))})`)
      this.#countEnvironment(update, request.environment, environment)
      // Guard: either no window and nothing counted (a new item, or a circuit just closed,
      // overridden or reset: the window starts here), or the window is open.
      update.when(
        `attribute_not_exists(${windowStartedAt}) AND NOT ${failures} > ${zero} OR ${failures} > ${zero} AND ${windowStartedAt} > ${cutoff}`,
      )
    } else {
      update.setValue(FlatField.FAILURES, number(1)).setValue(FlatField.WINDOW_STARTED_AT, number(t))
      this.#startEnvironments(update, request.environment)
      // Guard: no window is open (none counted, none started, a start that is not a time, or lapsed).
      update.when(
        `attribute_not_exists(${failures}) OR ${failures} <= ${zero} OR NOT attribute_type(${windowStartedAt}, ${update.value(text('N'))}) OR ${windowStartedAt} <= ${cutoff}`,
      )
    }
    return update
  }

  /** Adds an environment's counts of calls, failures and slow calls to the rate window, in `form`. */
  addCounts(
    form: WindowForm,
    request: {
      opId: string
      generation: number
      windowMs: number
      calls: number
      failures: number
      slowCalls: number
      environment?: string
      incarnation?: string
    },
    t: number,
    ops: OpsChoice,
    environment: EnvironmentChoice,
  ): UpdateBuilder {
    const { opId, generation, windowMs } = request
    const update = this.#touch(new UpdateBuilder(), t)
    const failures = update.name(FlatField.FAILURES)
    const calls = update.name(FlatField.CALLS)
    const slowCalls = update.name(FlatField.SLOW_CALLS)
    const windowStartedAt = update.name(FlatField.WINDOW_STARTED_AT)
    const zero = update.value(number(0))
    const cutoff = update.value(number(t - windowMs))
    const reporter = request.failures > 0 ? request.environment : undefined
    // Guards: closed at the caller's generation of the life it names, and this report not counted yet.
    this.#stateAt(update, CircuitState.CLOSED, generation)
    this.#ofIncarnation(update, request.incarnation)
    this.#recordOp(update, opId, ops)
    this.#createIfAbsent(update, opId, { withGeneration: true })
    const nothing = (name: string) => `NOT ${name} > ${zero}`
    if (form === WindowForm.COUNT) {
      update
        .add(FlatField.CALLS, number(request.calls))
        .add(FlatField.FAILURES, number(request.failures))
        .add(FlatField.SLOW_CALLS, number(request.slowCalls))
      update.set(FlatField.WINDOW_STARTED_AT, `if_not_exists(${windowStartedAt}, ${update.value(number(t))})`)
      this.#countEnvironment(update, reporter, reporter === undefined ? 'none' : environment)
      // Guard: either no window and nothing counted (the window starts with these counts), or the
      // window is open: started, not lapsed, something counted in it.
      update.when(
        `attribute_not_exists(${windowStartedAt}) AND ${nothing(failures)} AND ${nothing(calls)} AND ${nothing(slowCalls)} OR ${windowStartedAt} > ${cutoff} AND ${failures} > ${zero} OR ${windowStartedAt} > ${cutoff} AND ${calls} > ${zero}`,
      )
    } else {
      update
        .setValue(FlatField.CALLS, number(request.calls))
        .setValue(FlatField.FAILURES, number(request.failures))
        .setValue(FlatField.SLOW_CALLS, number(request.slowCalls))
        .setValue(FlatField.WINDOW_STARTED_AT, number(t))
      this.#startEnvironments(update, reporter)
      // Guard: no window is open (none started, a start that is not a time, lapsed, or nothing in it).
      update.when(
        `NOT attribute_type(${windowStartedAt}, ${update.value(text('N'))}) OR ${windowStartedAt} <= ${cutoff} OR ${nothing(failures)} AND ${nothing(calls)}`,
      )
    }
    return update
  }

  /** Sets the failure count of a closed circuit of `generation` back to zero, remembering `opId`. */
  resetFailures(
    request: { opId: string; generation: number; incarnation?: string },
    t: number,
    ops: OpsChoice,
  ): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    update.setValue(FlatField.FAILURES, number(0)).remove(FlatField.WINDOW_STARTED_AT, FlatField.FAILING_ENVIRONMENTS)
    // Guards: closed at the caller's generation of the life it names, with something to reset, and
    // not reset by this request already (a retried reset must not erase failures counted since).
    this.#stateAt(update, CircuitState.CLOSED, request.generation)
    this.#ofIncarnation(update, request.incarnation)
    update.when(`${update.name(FlatField.FAILURES)} > ${update.value(number(0))}`)
    this.#recordOp(update, request.opId, ops)
    return update
  }

  // ---- transitions and probes -----------------------------------------------------------------

  /** Moves a circuit from `request.from` to `request.to` at `t`, a new generation made by `opId`. */
  transition(request: TransitionRequest, t: number): UpdateBuilder {
    const { from, guard, to, opId } = request
    const update = this.#touch(new UpdateBuilder(), t)
    update
      .setValue(FlatField.STATE, text(to.state))
      .setValue(FlatField.GENERATION, number(from.generation + 1))
      .setValue(FlatField.CHANGED_AT, number(t))
      .setValue(FlatField.CHANGED_BY, text(opId))
      .setValue(changeField(from.generation + 1), text(changeValue(from.generation + 1, opId)))
    this.#keepOrCreate(update, FlatField.INCARNATION, text(opId))
    switch (to.state) {
      case CircuitState.OPEN:
        update
          .setValue(FlatField.OPEN_COUNT, number(to.openCount))
          .setValue(FlatField.RETRY_AT, number(t + to.retryInMs))
        break
      case CircuitState.HALF_OPEN:
        update
          .setValue(FlatField.SUCCESSES, number(0))
          .setValue(probeTokenField(0), text(to.probe.token))
          .setValue(probeExpiresField(0), number(t + to.probe.leaseMs))
        this.#keepOrCreate(update, FlatField.OPEN_COUNT, number(0))
        break
      case CircuitState.CLOSED:
        update.setValue(FlatField.FAILURES, number(0)).setValue(FlatField.OPEN_COUNT, number(0))
        break
    }
    // A new generation: the counting writes of the old one can no longer be retried into it.
    update.remove(...STATE_FIELDS, FlatField.RECENT_OPS)
    // Guards: still in the state and generation (and life of the record) the caller saw, plus the
    // caller's own conditions, each of which also needs the state it is about (an absent count
    // reads as 0).
    this.#stateAt(update, from.state, from.generation)
    this.#ofIncarnation(update, from.incarnation)
    if (guard !== undefined) {
      const closedOnly = [guard.minFailures, guard.minCalls, guard.maxCalls, guard.minSlowCalls, guard.minEnvironments]
      if (closedOnly.some((bound) => bound !== undefined)) this.#isIn(update, CircuitState.CLOSED)
      if (guard.minSuccesses !== undefined) this.#isIn(update, CircuitState.HALF_OPEN)
      this.#compare(update, FlatField.FAILURES, '>=', guard.minFailures)
      this.#compare(update, FlatField.CALLS, '>=', guard.minCalls)
      this.#compare(update, FlatField.CALLS, '<=', guard.maxCalls)
      this.#compare(update, FlatField.SLOW_CALLS, '>=', guard.minSlowCalls)
      this.#compare(update, FlatField.SUCCESSES, '>=', guard.minSuccesses)
      if (guard.minEnvironments !== undefined && guard.minEnvironments > 0) {
        // Guard: enough distinct environments reported failures in the window.
        const environments = update.name(FlatField.FAILING_ENVIRONMENTS)
        update.when(`size(${environments}) >= ${update.value(number(guard.minEnvironments))}`)
      }
      if (guard.retryDue === true) {
        update.when(`${update.name(FlatField.RETRY_AT)} <= ${update.value(number(t))}`)
      }
    }
    if (guard?.probeToken !== undefined) {
      // Guard: some slot holds a lease with the caller's token, lapsed or not.
      const token = update.value(text(guard.probeToken))
      const numeric = update.value(text('N'))
      const slots = Array.from(
        { length: MAX_PROBE_SLOTS },
        (_, slot) =>
          `${update.name(probeTokenField(slot))} = ${token} AND attribute_type(${update.name(probeExpiresField(slot))}, ${numeric})`,
      )
      update.when(slots.join(' OR '))
    }
    return update
  }

  /** Takes probe slot `slot` for `token` until `t + leaseMs`. */
  acquireProbe(
    request: { generation: number; token: string; leaseMs: number; maxProbes: number },
    slot: number,
    t: number,
  ): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    update
      .setValue(probeTokenField(slot), text(request.token))
      .setValue(probeExpiresField(slot), number(t + request.leaseMs))
    // Guards: half-open at the caller's generation, and the slot holds no live lease (none, a
    // half-written one, or one that has lapsed).
    this.#stateAt(update, CircuitState.HALF_OPEN, request.generation)
    const token = update.name(probeTokenField(slot))
    const expiresAt = update.name(probeExpiresField(slot))
    update.when(
      `NOT attribute_type(${token}, ${update.value(text('S'))}) OR NOT attribute_type(${expiresAt}, ${update.value(text('N'))}) OR ${expiresAt} <= ${update.value(number(t))}`,
    )
    // Guard: every lower slot holds a live lease, so this is the lowest free one (as every store takes).
    for (let lower = 0; lower < slot; lower++) {
      const lowerToken = update.name(probeTokenField(lower))
      const lowerExpiry = update.name(probeExpiresField(lower))
      update.when(
        `attribute_type(${lowerToken}, ${update.value(text('S'))}) AND attribute_type(${lowerExpiry}, ${update.value(text('N'))}) AND ${lowerExpiry} > ${update.value(number(t))}`,
      )
    }
    // Guard: no slot the caller may use holds its token yet (a retried request keeps its lease).
    this.#tokenHeldNowhere(update, request.token, Math.min(request.maxProbes, MAX_PROBE_SLOTS))
    return update
  }

  /**
   * Ends a probe: gives back its lease in `slot` (when it holds one) and counts a success. Without a
   * slot, the update checks that the token holds no lease at all, so a stale view cannot keep one.
   */
  completeProbe(
    request: { opId: string; generation: number; token: string; success: boolean },
    slot: number | undefined,
    t: number,
    ops: OpsChoice,
  ): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    if (request.success) update.add(FlatField.SUCCESSES, number(1))
    // Guards: half-open at the caller's generation, and this completion not applied yet.
    this.#stateAt(update, CircuitState.HALF_OPEN, request.generation)
    this.#recordOp(update, request.opId, ops)
    if (slot === undefined) {
      this.#tokenHeldNowhere(update, request.token, MAX_PROBE_SLOTS)
    } else {
      update.remove(probeTokenField(slot), probeExpiresField(slot))
      // Guard: the lease is still the caller's (a lapsed one may have gone to another probe, whose
      // slot must stay taken).
      update.when(`${update.name(probeTokenField(slot))} = ${update.value(text(request.token))}`)
    }
    return update
  }

  // ---- manual control -------------------------------------------------------------------------

  /**
   * Sets (or clears) the override at `t`, a new generation made by `opId`, with its history entry;
   * with `onlyIfActor`, only over an override that actor set.
   */
  setForced(
    forced: OverrideRequest | undefined,
    request: { readonly opId: string; readonly onlyIfActor?: string; readonly orNoOverride?: boolean },
    t: number,
    history: HistoryWrite,
  ): UpdateBuilder {
    const { opId } = request
    const update = this.#operatorGeneration(opId, history)
    if (request.onlyIfActor !== undefined) {
      // Guard: the override the item holds was set by this actor (an automation clears only its own).
      const byActor = `${update.name(FlatField.FORCED_ACTOR)} = ${update.value(text(request.onlyIfActor))}`
      if (request.orNoOverride === true) {
        // Or no override is in force: none, or one whose end has passed.
        const state = update.name(FlatField.FORCED_STATE)
        const until = update.name(FlatField.FORCED_UNTIL)
        update.when(`(${byActor} OR attribute_not_exists(${state}) OR ${until} <= ${update.value(number(t))})`)
      } else update.when(byActor)
    }
    if (forced === undefined) {
      this.#touch(update, t)
      update.remove(...FORCED_FIELDS)
    } else {
      const override = overrideAt(forced, t)
      update
        .setValue(FlatField.FORCED_STATE, text(override.state))
        .setValue(FlatField.FORCED_SINCE, number(override.since))
      if (override.reason !== undefined) update.setValue(FlatField.FORCED_REASON, text(override.reason))
      if (override.until !== undefined) update.setValue(FlatField.FORCED_UNTIL, number(override.until))
      if (override.actor !== undefined) update.setValue(FlatField.FORCED_ACTOR, text(override.actor))
      update.remove(FlatField.FORCED_REASON, FlatField.FORCED_UNTIL, FlatField.FORCED_ACTOR)
      // A circuit forced open must not silently expire; one with an end lives a TTL past it.
      if (override.until === undefined) this.#dropTtl(update)
      else this.#touch(update, override.until)
    }
    return update
  }

  /** Switches the shadow override on (or off) at `t`, a new generation made by `opId`, with its history entry. */
  setShadow(shadow: ShadowRequest | undefined, opId: string, t: number, history: HistoryWrite): UpdateBuilder {
    const update = this.#operatorGeneration(opId, history)
    update.remove(...SHADOW_FIELDS)
    if (shadow === undefined) {
      this.#touch(update, t)
    } else {
      const on = shadowAt(shadow, t)
      update.setValue(FlatField.SHADOW_SINCE, number(on.since))
      if (on.until !== undefined) update.setValue(FlatField.SHADOW_UNTIL, number(on.until))
      if (on.reason !== undefined) update.setValue(FlatField.SHADOW_REASON, text(on.reason))
      if (on.actor !== undefined) update.setValue(FlatField.SHADOW_ACTOR, text(on.actor))
      // Like an override: without an end the item must not expire under it; with one, it lives a TTL past it.
      if (on.until === undefined) this.#dropTtl(update)
      else this.#touch(update, on.until)
    }
    return update
  }

  /**
   * What every operator write does besides its own fields: a new generation made by `opId` on an
   * item that is absent or readable, not made by `opId` already, with the history replaced.
   */
  #operatorGeneration(opId: string, history: HistoryWrite): UpdateBuilder {
    const update = new UpdateBuilder()
    this.#createIfAbsent(update, opId, { withGeneration: false })
    this.#nextGeneration(update, opId)
    this.#keepOrCreate(update, FlatField.FAILURES, number(0))
    // The probes of a half-open circuit belong to the generation that ends here: their leases and
    // the successes they counted go with it. (Only a half-open item holds either; `successes` 0 on
    // another is never read.)
    update.setValue(FlatField.SUCCESSES, number(0)).remove(...PROBE_FIELDS, FlatField.RECENT_OPS)
    this.#history(update, history)
    // Guards: the item is absent or readable (arithmetic on its generation cannot fail), and this
    // request has not made the current generation already.
    this.#validOrAbsent(update)
    this.#notChangedBy(update, opId)
    return update
  }

  /** Replaces the history, guarded by its being as seen. */
  #history(update: UpdateBuilder, history: HistoryWrite): void {
    update.setValue(FlatField.HISTORY, text(history.next))
    // Guard: no other operator's entry landed since the history was seen.
    this.#unchanged(update, FlatField.HISTORY, history.seen)
  }

  /** Puts the circuit back to a fresh CLOSED state at `t`, a new generation made by `opId`. */
  reset(opId: string, t: number, history: HistoryWrite): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    this.#history(update, history)
    update
      .setValue(FlatField.STATE, text(CircuitState.CLOSED))
      .setValue(FlatField.OPEN_COUNT, number(0))
      .setValue(FlatField.CHANGED_AT, number(t))
      .setValue(FlatField.FAILURES, number(0))
    this.#nextGeneration(update, opId)
    this.#keepOrCreate(update, FlatField.INCARNATION, text(opId))
    update.remove(...STATE_FIELDS, ...FORCED_FIELDS, FlatField.RECENT_OPS)
    // Guards: as for an override.
    this.#validOrAbsent(update)
    this.#notChangedBy(update, opId)
    return update
  }

  // ---- unreadable items -----------------------------------------------------------------------

  /**
   * Replaces an item that is not a record with a fresh CLOSED record at `generation`, with no
   * incarnation (the next write gives it one), if the item is still exactly as it was seen:
   * every attribute that decides whether an item is a record compared with the value read.
   */
  repair(seen: Item, generation: number, t: number): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    update
      .setValue(FlatField.STATE, text(CircuitState.CLOSED))
      .setValue(FlatField.GENERATION, number(generation))
      .setValue(FlatField.OPEN_COUNT, number(0))
      .setValue(FlatField.CHANGED_AT, number(0))
      .setValue(FlatField.FAILURES, number(0))
      .remove(
        ...STATE_FIELDS,
        ...FORCED_FIELDS,
        FlatField.INCARNATION,
        FlatField.CHANGED_BY,
        FlatField.RECENT_OPS,
        ...CHANGE_FIELDS,
      )
    const decisive = [
      FlatField.STATE,
      FlatField.GENERATION,
      FlatField.OPEN_COUNT,
      FlatField.CHANGED_AT,
      FlatField.FAILURES,
      FlatField.RETRY_AT,
      FlatField.SUCCESSES,
      FlatField.CALLS,
      FlatField.SLOW_CALLS,
      FlatField.INCARNATION,
    ]
    // Guard: still the unreadable item that was seen (another environment may have replaced it).
    for (const field of decisive) this.#unchanged(update, field, seen[field])
    return update
  }

  /**
   * Cleans up the blemishes of a readable record, each only if it is still there: a malformed list
   * of ids becomes the list of its valid ids, a malformed override end drops the override (as
   * reading it did), a malformed `changedBy` or transition name goes.
   */
  cleanUp(seen: Item, blemishes: readonly Blemish[], t: number): UpdateBuilder {
    const update = this.#touch(new UpdateBuilder(), t)
    for (const blemish of blemishes) {
      const value = seen[blemish]
      switch (blemish) {
        case Blemish.RECENT_OPS:
        case Blemish.FAILING_ENVIRONMENTS: {
          // What reading the field made of it: its valid ids, the newest kept.
          const elements = value?.L?.map((element) => element.S) ?? value?.S?.split(' ') ?? []
          const ids = elements.filter(isOpId)
          const max = blemish === Blemish.RECENT_OPS ? MAX_RECENT_OPS : MAX_FAILING_ENVIRONMENTS
          if (ids.length === 0) update.remove(blemish)
          else update.setValue(blemish, texts(ids.slice(-max)))
          break
        }
        case Blemish.FORCED_UNTIL:
          update.remove(...FORCED_FIELDS)
          break
        case Blemish.CHANGED_BY:
          update.remove(FlatField.CHANGED_BY)
          break
        case Blemish.HISTORY: {
          // What reading the field made of it: its readable entries.
          const { entries } = decodeHistory(value?.S ?? value)
          if (entries.length === 0) update.remove(FlatField.HISTORY)
          else update.setValue(FlatField.HISTORY, text(encodeHistory(entries)))
          break
        }
        default:
          // A malformed transition name: reading it left it out.
          update.remove(blemish)
      }
      // Guard: the blemish is still as it was seen.
      this.#unchanged(update, blemish, value)
    }
    return update
  }

  // ---- clauses --------------------------------------------------------------------------------

  /** Guard: the circuit is in `state` (an absent item is CLOSED). */
  #isIn(update: UpdateBuilder, state: CircuitState): void {
    const stateName = update.name(FlatField.STATE)
    const clause = `${stateName} = ${update.value(text(state))}`
    update.when(state === CircuitState.CLOSED ? `attribute_not_exists(${stateName}) OR ${clause}` : clause)
  }

  /** Guard: the count `field` (0 when absent) compares with `bound` as `operator` says; none without a bound. */
  #compare(update: UpdateBuilder, field: string, operator: '>=' | '<=', bound: number | undefined): void {
    if (bound === undefined) return
    const name = update.name(field)
    const clause = `${name} ${operator} ${update.value(number(bound))}`
    const absentHolds = operator === '>=' ? 0 >= bound : 0 <= bound
    update.when(absentHolds ? `attribute_not_exists(${name}) OR ${clause}` : clause)
  }

  /** Guard: the circuit is in `state` at `generation` (a circuit with no item is CLOSED at 0). */
  #stateAt(update: UpdateBuilder, state: CircuitState, generation: number): void {
    const stateName = update.name(FlatField.STATE)
    const clause = `${stateName} = ${update.value(text(state))} AND ${update.name(FlatField.GENERATION)} = ${update.value(number(generation))}`
    const absentMeansThis = state === CircuitState.CLOSED && generation === 0
    update.when(absentMeansThis ? `attribute_not_exists(${stateName}) OR ${clause}` : clause)
  }

  /**
   * Guard: the record is the life the caller names (none named: any). Generations start again at 0
   * in a record created after a loss, so only the incarnation tells the two lives apart.
   */
  #ofIncarnation(update: UpdateBuilder, incarnation: string | undefined): void {
    if (incarnation === undefined || incarnation === '') return
    update.when(`${update.name(FlatField.INCARNATION)} = ${update.value(text(incarnation))}`)
  }

  /** Guard: the current generation was not made by `opId`. */
  #notChangedBy(update: UpdateBuilder, opId: string): void {
    const changedBy = update.name(FlatField.CHANGED_BY)
    update.when(`attribute_not_exists(${changedBy}) OR NOT ${changedBy} = ${update.value(text(opId))}`)
  }

  /** Guard: none of the first `slots` probe slots holds `token`. */
  #tokenHeldNowhere(update: UpdateBuilder, token: string, slots: number): void {
    const value = update.value(text(token))
    for (let slot = 0; slot < slots; slot++) update.when(`NOT ${update.name(probeTokenField(slot))} = ${value}`)
  }

  /**
   * Adds `opId` to the op-id list (an append, or a roll-over of the list seen), guarded by its not
   * being there yet: a retried request finds its id and changes nothing.
   */
  #recordOp(update: UpdateBuilder, opId: string, ops: OpsChoice): void {
    const recentOps = update.name(FlatField.RECENT_OPS)
    update.when(`NOT contains(${recentOps}, ${update.value(text(opId))})`)
    if (!ops.roll) {
      update.set(
        FlatField.RECENT_OPS,
        `list_append(if_not_exists(${recentOps}, ${update.value({ L: [] })}), ${update.value(texts([opId]))})`,
      )
      // Guard: the list is absent, or a list with room.
      update.when(
        `attribute_not_exists(${recentOps}) OR attribute_type(${recentOps}, ${update.value(text('L'))}) AND size(${recentOps}) < ${update.value(number(RECENT_OPS_HARD_LIMIT))}`,
      )
      return
    }
    const { ids, last } = ops.seen
    update.setValue(FlatField.RECENT_OPS, texts([...ids.slice(-(MAX_RECENT_OPS - 1)), opId]))
    // Guard: the list is the one seen. Op ids are unique and a roll-over always shortens the list,
    // so its size and last element identify it.
    update.when(
      `size(${recentOps}) = ${update.value(number(ids.length))} AND ${recentOps}[${ids.length - 1}] = ${update.value(last)}`,
    )
  }

  /** Adds the reporting environment to the window's list (`add`), or checks it needs no adding (`keep`). */
  #countEnvironment(update: UpdateBuilder, environment: string | undefined, choice: EnvironmentChoice): void {
    if (environment === undefined || choice === 'none') return
    const environments = update.name(FlatField.FAILING_ENVIRONMENTS)
    const value = update.value(text(environment))
    const room = update.value(number(MAX_FAILING_ENVIRONMENTS))
    if (choice === 'add') {
      update.set(
        FlatField.FAILING_ENVIRONMENTS,
        `list_append(if_not_exists(${environments}, ${update.value({ L: [] })}), ${update.value(texts([environment]))})`,
      )
      // Guard: the environment is not listed yet, and the list has room (first come).
      update.when(
        `attribute_not_exists(${environments}) OR attribute_type(${environments}, ${update.value(text('L'))}) AND NOT contains(${environments}, ${value}) AND size(${environments}) < ${room}`,
      )
    } else {
      // Guard: the environment is listed already, or the list is full.
      update.when(`contains(${environments}, ${value}) OR size(${environments}) >= ${room}`)
    }
  }

  /** A new window's list of failing environments: the reporter's alone, or none. */
  #startEnvironments(update: UpdateBuilder, environment: string | undefined): void {
    if (environment === undefined) update.remove(FlatField.FAILING_ENVIRONMENTS)
    else update.setValue(FlatField.FAILING_ENVIRONMENTS, texts([environment]))
  }

  /** `SET field = if_not_exists(field, value)`. */
  #keepOrCreate(update: UpdateBuilder, field: string, value: AttributeValue): void {
    update.set(field, `if_not_exists(${update.name(field)}, ${update.value(value)})`)
  }

  /**
   * An operator's next generation, made by `opId` (an absent item is at generation 0). It names no
   * transition, so the record's `recentChanges` start afresh.
   */
  #nextGeneration(update: UpdateBuilder, opId: string): void {
    const generation = update.name(FlatField.GENERATION)
    update.set(
      FlatField.GENERATION,
      `if_not_exists(${generation}, ${update.value(number(0))}) + ${update.value(number(1))}`,
    )
    update.setValue(FlatField.CHANGED_BY, text(opId)).remove(...CHANGE_FIELDS)
  }

  /**
   * Gives an item that may not exist yet the common fields of a fresh CLOSED record (the generation
   * too, unless the caller sets it itself), with `opId` as its incarnation.
   */
  #createIfAbsent(update: UpdateBuilder, opId: string, { withGeneration }: { withGeneration: boolean }): void {
    const zero = number(0)
    this.#keepOrCreate(update, FlatField.STATE, text(CircuitState.CLOSED))
    this.#keepOrCreate(update, FlatField.OPEN_COUNT, zero)
    this.#keepOrCreate(update, FlatField.CHANGED_AT, zero)
    this.#keepOrCreate(update, FlatField.INCARNATION, text(opId))
    if (withGeneration) this.#keepOrCreate(update, FlatField.GENERATION, zero)
  }

  /** Guard: the item is absent or readable, so arithmetic on its attributes cannot fail. */
  #validOrAbsent(update: UpdateBuilder): void {
    for (const clause of validOrAbsentClauses(update)) update.when(clause)
  }

  /** Guard: `field` still holds `value` (or is still absent). */
  #unchanged(update: UpdateBuilder, field: string, value: AttributeValue | undefined): void {
    const name = update.name(field)
    if (value === undefined) update.when(`attribute_not_exists(${name})`)
    else if (isScalar(value)) update.when(`${name} = ${update.value(value)}`)
    else if (value.L !== undefined) {
      // Documents cannot be compared; a list is taken as unchanged when its type and size are.
      update.when(
        `attribute_type(${name}, ${update.value(text('L'))}) AND size(${name}) = ${update.value(number(value.L.length))}`,
      )
    } else update.when(`attribute_type(${name}, ${update.value(text(typeOf(value)))})`)
  }

  /** Pushes the item's expiry to a TTL after `from` (service time). */
  #touch(update: UpdateBuilder, from: number): UpdateBuilder {
    const { attribute, seconds } = this.#ttl
    if (attribute !== undefined) update.setValue(attribute, number(Math.floor(from / 1000) + seconds))
    return update
  }

  #dropTtl(update: UpdateBuilder): void {
    if (this.#ttl.attribute !== undefined) update.remove(this.#ttl.attribute)
  }
}

/**
 * What `decodeFlatRecord` accepts, as far as a condition can tell, for an item that exists: a known
 * state with its numeric fields, counts from 0 to 2^53 - 1, an op id of the right length and
 * without spaces as incarnation. Each clause reads "not (the item breaks rule X)", so an absent
 * item passes them all and none needs nesting. (A fractional count slips through: the write
 * applies, the store sees its answer as unreadable, repairs the item and writes again, so an
 * override on such an item starts one generation later than on a readable one.)
 */
function validOrAbsentClauses(update: UpdateBuilder): string[] {
  const state = update.name(FlatField.STATE)
  const exists = `attribute_exists(${state})`
  const numeric = update.value(text('N'))
  const range = `${update.value(number(0))} AND ${update.value(number(MAX_COUNT))}`
  const [closed, open, halfOpen] = [CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN].map((name) =>
    update.value(text(name)),
  )
  const isCount = (field: string) => `${update.name(field)} BETWEEN ${range}`
  const incarnation = update.name(FlatField.INCARNATION)
  const counts = [FlatField.FAILURES, FlatField.SUCCESSES, FlatField.CALLS, FlatField.SLOW_CALLS]
  return [
    `NOT (${exists} AND NOT ${state} IN (${closed}, ${open}, ${halfOpen}))`,
    `NOT (${exists} AND NOT ${isCount(FlatField.GENERATION)})`,
    `NOT (${exists} AND NOT ${isCount(FlatField.OPEN_COUNT)})`,
    `NOT (${exists} AND NOT attribute_type(${update.name(FlatField.CHANGED_AT)}, ${numeric}))`,
    `NOT (${state} = ${closed} AND NOT attribute_type(${update.name(FlatField.FAILURES)}, ${numeric}))`,
    `NOT (${state} = ${open} AND NOT attribute_type(${update.name(FlatField.RETRY_AT)}, ${numeric}))`,
    `NOT (${state} = ${halfOpen} AND NOT attribute_type(${update.name(FlatField.SUCCESSES)}, ${numeric}))`,
    ...counts.map((field) => `NOT (attribute_exists(${update.name(field)}) AND NOT ${isCount(field)})`),
    `NOT (attribute_exists(${incarnation}) AND NOT attribute_type(${incarnation}, ${update.value(text('S'))}))`,
    `NOT (attribute_exists(${incarnation}) AND NOT size(${incarnation}) BETWEEN ${update.value(number(1))} AND ${update.value(number(64))})`,
    `NOT contains(${incarnation}, ${update.value(text(' '))})`,
  ]
}
