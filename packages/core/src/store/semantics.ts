import { MAX_PROBE_SLOTS } from '../options.js'
import {
  activeOverride,
  type CircuitRecord,
  CircuitState,
  type ClosedRecord,
  type ForcedState,
  type HalfOpenRecord,
  HistoryAction,
  type HistoryEntry,
  initialRecord,
  MAX_FAILING_ENVIRONMENTS,
  MAX_HISTORY,
  MAX_HISTORY_ACTOR_LENGTH,
  MAX_HISTORY_REASON_LENGTH,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  type ProbeLease,
  type ShadowOverride,
} from '../state.js'
import type {
  AcquireProbeRequest,
  AddCountsRequest,
  AddFailureRequest,
  CompleteProbeRequest,
  OperatorNote,
  OverrideRequest,
  ProbeOutcome,
  ResetFailuresRequest,
  ResetRequest,
  ShadowRequest,
  TransitionGuard,
  TransitionOutcome,
  TransitionRequest,
} from './contract.js'

/*
 * The meaning of every store operation, written once as pure functions from the current record to
 * the next. MemoryStore applies them directly; the DynamoDB and Redis stores express the same rules
 * as condition expressions and Lua, and the conformance suite holds them all to the same results.
 * Each function returns the input record unchanged (same object) when its condition does not hold
 * or when the write was already applied (its op id is known to the record).
 *
 * A circuit the store holds nothing for is `initialRecord()` (incarnation `''`); the first write that
 * changes it creates the record with the write's op id as its incarnation.
 */

function isClosedAt(record: CircuitRecord, generation: number): record is ClosedRecord {
  return record.state === CircuitState.CLOSED && record.generation === generation
}

/** Whether a write fenced on `incarnation` (see `Fenced`) may apply to `record`. */
export function isOfIncarnation(record: CircuitRecord, incarnation: string | undefined): boolean {
  return incarnation === undefined || incarnation === '' || record.incarnation === incarnation
}

function isHalfOpenAt(record: CircuitRecord, generation: number): record is HalfOpenRecord {
  return record.state === CircuitState.HALF_OPEN && record.generation === generation
}

/** Whether the counting write `opId` was already applied at the record's generation. */
export function hasApplied(record: CircuitRecord, opId: string): boolean {
  return record.recentOps?.includes(opId) === true
}

/** The record's op ids with `opId` added, keeping the newest {@link MAX_RECENT_OPS}. */
export function withRecentOp(record: CircuitRecord, opId: string): readonly string[] {
  const ops = [...(record.recentOps ?? []), opId]
  return ops.length > MAX_RECENT_OPS ? ops.slice(ops.length - MAX_RECENT_OPS) : ops
}

/** The record's `recentChanges` once the transition `opId` starts its next generation: the newest {@link MAX_RECENT_CHANGES}. */
export function withRecentChange(record: CircuitRecord, opId: string): readonly string[] {
  const changes = [...(record.recentChanges ?? []), opId]
  return changes.length > MAX_RECENT_CHANGES ? changes.slice(changes.length - MAX_RECENT_CHANGES) : changes
}

/** The incarnation a write gives the record: the record's own, or the writer's for a new record. */
function incarnationAfter(record: CircuitRecord, opId: string): string {
  return record.incarnation === '' ? opId : record.incarnation
}

/** Whether a failure at `now` still belongs to the window that `record` started. */
export function windowIsOpen(record: ClosedRecord, now: number, windowMs: number): boolean {
  return record.failures > 0 && record.windowStartedAt !== undefined && now - record.windowStartedAt < windowMs
}

/**
 * The window's failing environments with `environment` added, if it is new and there is room
 * (first come: a quorum only needs to know that enough distinct ones reported).
 */
export function withFailingEnvironment(
  environments: readonly string[] | undefined,
  environment: string | undefined,
): readonly string[] | undefined {
  if (environment === undefined) return environments
  const known = environments ?? []
  if (known.includes(environment) || known.length >= MAX_FAILING_ENVIRONMENTS) return environments
  return [...known, environment]
}

function failingEnvironmentsField(environments: readonly string[] | undefined): {
  failingEnvironments?: readonly string[]
} {
  return environments === undefined || environments.length === 0 ? {} : { failingEnvironments: environments }
}

/** {@link CircuitStore.addFailure} */
export function applyAddFailure(record: CircuitRecord, request: AddFailureRequest): CircuitRecord {
  if (!isClosedAt(record, request.generation) || !isOfIncarnation(record, request.incarnation)) return record
  if (hasApplied(record, request.opId)) return record
  const incarnation = incarnationAfter(record, request.opId)
  if (windowIsOpen(record, request.now, request.windowMs)) {
    return {
      ...record,
      incarnation,
      failures: record.failures + 1,
      recentOps: withRecentOp(record, request.opId),
      ...failingEnvironmentsField(withFailingEnvironment(record.failingEnvironments, request.environment)),
    }
  }
  const { failingEnvironments: _lapsed, ...rest } = record
  // A new window keeps the op ids of the generation: a failure retried after its window lapsed
  // (its request still carries the old `now`) must not count again in the new one.
  return {
    ...rest,
    incarnation,
    failures: 1,
    windowStartedAt: request.now,
    recentOps: withRecentOp(record, request.opId),
    ...failingEnvironmentsField(withFailingEnvironment(undefined, request.environment)),
  }
}

/** Whether counts at `now` still belong to the rate window that `record` started. */
export function countWindowIsOpen(record: ClosedRecord, now: number, windowMs: number): boolean {
  return (
    record.windowStartedAt !== undefined &&
    now - record.windowStartedAt < windowMs &&
    (record.failures > 0 || (record.calls ?? 0) > 0)
  )
}

/** {@link CircuitStore.addCounts} */
export function applyAddCounts(record: CircuitRecord, request: AddCountsRequest): CircuitRecord {
  if (!isClosedAt(record, request.generation) || !isOfIncarnation(record, request.incarnation)) return record
  if (hasApplied(record, request.opId)) return record
  const incarnation = incarnationAfter(record, request.opId)
  const reporter = request.failures > 0 ? request.environment : undefined
  const recentOps = withRecentOp(record, request.opId)
  if (countWindowIsOpen(record, request.now, request.windowMs)) {
    return {
      ...record,
      incarnation,
      calls: (record.calls ?? 0) + request.calls,
      failures: record.failures + request.failures,
      slowCalls: (record.slowCalls ?? 0) + request.slowCalls,
      recentOps,
      ...failingEnvironmentsField(withFailingEnvironment(record.failingEnvironments, reporter)),
    }
  }
  const { failingEnvironments: _lapsed, ...rest } = record
  return {
    ...rest,
    incarnation,
    calls: request.calls,
    failures: request.failures,
    slowCalls: request.slowCalls,
    windowStartedAt: request.now,
    recentOps,
    ...failingEnvironmentsField(withFailingEnvironment(undefined, reporter)),
  }
}

/** {@link CircuitStore.resetFailures} */
export function applyResetFailures(record: CircuitRecord, request: ResetFailuresRequest): CircuitRecord {
  // With nothing to reset the write changes nothing, op id included: the breaker only resets a
  // count it saw above zero, so this is a reset another writer already made.
  if (!isClosedAt(record, request.generation) || record.failures === 0 || hasApplied(record, request.opId)) {
    return record
  }
  if (!isOfIncarnation(record, request.incarnation)) return record
  const { windowStartedAt: _dropped, failingEnvironments: _reporters, ...rest } = record
  return { ...rest, failures: 0, recentOps: withRecentOp(record, request.opId) }
}

/** Whether the half-open record holds a lease with `token` (lapsed or not). */
export function holdsLease(record: HalfOpenRecord, token: string): boolean {
  return record.probes.some((lease) => lease.token === token)
}

function guardHolds(record: CircuitRecord, request: TransitionRequest): boolean {
  const guard = request.guard
  if (guard === undefined) return true
  if (
    guard.minFailures !== undefined &&
    (record.state !== CircuitState.CLOSED || record.failures < guard.minFailures)
  ) {
    return false
  }
  if (
    guard.minSuccesses !== undefined &&
    (record.state !== CircuitState.HALF_OPEN || record.successes < guard.minSuccesses)
  ) {
    return false
  }
  if (guard.retryDue === true && (record.state !== CircuitState.OPEN || record.retryAt > request.now)) return false
  if (!windowGuardHolds(record, guard)) return false
  if (
    guard.probeToken !== undefined &&
    (record.state !== CircuitState.HALF_OPEN || !holdsLease(record, guard.probeToken))
  ) {
    return false
  }
  return true
}

/** The guards on a closed circuit's window: call volume, slow calls, distinct failing environments. */
function windowGuardHolds(record: CircuitRecord, guard: TransitionGuard): boolean {
  const { minCalls, maxCalls, minSlowCalls, minEnvironments } = guard
  if (minCalls === undefined && maxCalls === undefined && minSlowCalls === undefined && minEnvironments === undefined) {
    return true
  }
  if (record.state !== CircuitState.CLOSED) return false
  const calls = record.calls ?? 0
  if (minCalls !== undefined && calls < minCalls) return false
  if (maxCalls !== undefined && calls > maxCalls) return false
  if (minSlowCalls !== undefined && (record.slowCalls ?? 0) < minSlowCalls) return false
  if (minEnvironments !== undefined && (record.failingEnvironments?.length ?? 0) < minEnvironments) return false
  return true
}

function withForced(forced: ForcedState | undefined): { forced?: ForcedState } {
  return forced === undefined ? {} : { forced }
}

/** The fields every generation carries over: the overrides and the history. */
function carriedOver(record: CircuitRecord): Pick<CircuitRecord, 'forced' | 'shadow' | 'history'> {
  return {
    ...withForced(record.forced),
    ...(record.shadow === undefined ? {} : { shadow: record.shadow }),
    ...(record.history === undefined ? {} : { history: record.history }),
  }
}

/** {@link CircuitStore.transition} */
export function applyTransition(record: CircuitRecord, request: TransitionRequest): TransitionOutcome {
  const { from, to, now, opId } = request
  // Applied before (a retried request): the record is still the one this write produced.
  if (record.changedBy === opId) return { applied: true, record }
  if (record.state !== from.state || record.generation !== from.generation || !guardHolds(record, request)) {
    return { applied: false, record }
  }
  if (!isOfIncarnation(record, from.incarnation)) return { applied: false, record }
  const base = {
    circuitId: record.circuitId,
    incarnation: incarnationAfter(record, opId),
    generation: record.generation + 1,
    changedAt: now,
    changedBy: opId,
    recentChanges: withRecentChange(record, opId),
    ...carriedOver(record),
  }
  switch (to.state) {
    case CircuitState.OPEN:
      return {
        applied: true,
        record: { ...base, state: CircuitState.OPEN, openCount: to.openCount, retryAt: now + to.retryInMs },
      }
    case CircuitState.HALF_OPEN:
      return {
        applied: true,
        record: {
          ...base,
          state: CircuitState.HALF_OPEN,
          openCount: record.openCount,
          successes: 0,
          probes: [{ slot: 0, token: to.probe.token, expiresAt: now + to.probe.leaseMs }],
        },
      }
    case CircuitState.CLOSED:
      return { applied: true, record: { ...base, state: CircuitState.CLOSED, openCount: 0, failures: 0 } }
  }
}

/** The lowest probe slot below `maxProbes` that is free or whose lease has lapsed at `now`. */
export function freeProbeSlot(record: HalfOpenRecord, maxProbes: number, now: number): number | undefined {
  // A slot past MAX_PROBE_SLOTS could be neither stored nor read back by a flat record.
  for (let slot = 0; slot < Math.min(maxProbes, MAX_PROBE_SLOTS); slot++) {
    const holder = record.probes.find((lease) => lease.slot === slot)
    if (holder === undefined || holder.expiresAt <= now) return slot
  }
  return undefined
}

/** {@link CircuitStore.acquireProbe} */
export function applyAcquireProbe(record: CircuitRecord, request: AcquireProbeRequest): ProbeOutcome {
  if (!isHalfOpenAt(record, request.generation)) return { record }
  // Applied before (a retried request): the caller already holds this lease.
  const held = record.probes.find((lease) => lease.token === request.token)
  if (held !== undefined) return { lease: held, record }
  const slot = freeProbeSlot(record, request.maxProbes, request.now)
  if (slot === undefined) return { record }
  const lease: ProbeLease = { slot, token: request.token, expiresAt: request.now + request.leaseMs }
  const probes = [...record.probes.filter((taken) => taken.slot !== slot), lease].sort((a, b) => a.slot - b.slot)
  return { lease, record: { ...record, probes } }
}

/** {@link CircuitStore.completeProbe} */
export function applyCompleteProbe(record: CircuitRecord, request: CompleteProbeRequest): CircuitRecord {
  if (!isHalfOpenAt(record, request.generation) || hasApplied(record, request.opId)) return record
  const probes = record.probes.filter((lease) => lease.token !== request.token)
  if (probes.length === record.probes.length && !request.success) return record
  return {
    ...record,
    probes,
    successes: record.successes + (request.success ? 1 : 0),
    recentOps: withRecentOp(record, request.opId),
  }
}

/** The override an {@link OverrideRequest} sets at `now`. */
export function overrideAt(request: OverrideRequest, now: number): ForcedState {
  return {
    state: request.state,
    since: now,
    ...(request.reason === undefined ? {} : { reason: request.reason }),
    ...(request.durationMs === undefined ? {} : { until: now + request.durationMs }),
    ...(request.actor === undefined ? {} : { actor: request.actor }),
  }
}

/** The shadow override a {@link ShadowRequest} switches on at `now`. */
export function shadowAt(request: ShadowRequest, now: number): ShadowOverride {
  return {
    since: now,
    ...(request.durationMs === undefined ? {} : { until: now + request.durationMs }),
    ...(request.reason === undefined ? {} : { reason: request.reason }),
    ...(request.actor === undefined ? {} : { actor: request.actor }),
  }
}

/** `text` as a history entry keeps it: one line, no tabs, at most `max` characters. */
export function historyText(text: string, max: number): string {
  // Tabs and line breaks separate the fields and entries of a stored history.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  const line = text.replace(/[\u0000-\u001f\u007f]/g, ' ')
  if (line.length <= max) return line
  // Never cut between the halves of a surrogate pair: half of one is not text (Redis stores it as U+FFFD).
  const cut = isHighSurrogate(line.charCodeAt(max - 2)) ? max - 2 : max - 1
  return `${line.slice(0, cut)}…`
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

/** The history entry of an operator action at `at`, its texts shortened as history keeps them. */
export function historyEntry(action: HistoryAction, at: number, note: OperatorNote, until?: number): HistoryEntry {
  const actor = note.actor === undefined ? undefined : historyText(note.actor, MAX_HISTORY_ACTOR_LENGTH)
  const reason = note.reason === undefined ? undefined : historyText(note.reason, MAX_HISTORY_REASON_LENGTH)
  return {
    at,
    action,
    ...(actor === undefined || actor === '' ? {} : { actor }),
    ...(reason === undefined || reason === '' ? {} : { reason }),
    ...(until === undefined ? {} : { until }),
  }
}

/** The record's history with `entry` appended, the newest {@link MAX_HISTORY} kept. */
export function withHistory(record: CircuitRecord, entry: HistoryEntry): readonly HistoryEntry[] {
  const history = [...(record.history ?? []), entry]
  return history.length > MAX_HISTORY ? history.slice(history.length - MAX_HISTORY) : history
}

/** The history entry a {@link CircuitStore.setForced} request adds at `now`. */
export function setForcedEntry(forced: OverrideRequest | undefined, note: OperatorNote, now: number): HistoryEntry {
  if (forced === undefined) return historyEntry(HistoryAction.CLEAR, now, note)
  const action = forced.state === CircuitState.OPEN ? HistoryAction.FORCE_OPEN : HistoryAction.FORCE_CLOSE
  const until = forced.durationMs === undefined ? undefined : now + forced.durationMs
  return historyEntry(action, now, { actor: forced.actor ?? note.actor, reason: forced.reason ?? note.reason }, until)
}

/** The history entry a {@link CircuitStore.setShadow} request adds at `now`. */
export function setShadowEntry(shadow: ShadowRequest | undefined, note: OperatorNote, now: number): HistoryEntry {
  if (shadow === undefined) return historyEntry(HistoryAction.SHADOW_OFF, now, note)
  const until = shadow.durationMs === undefined ? undefined : now + shadow.durationMs
  return historyEntry(
    HistoryAction.SHADOW_ON,
    now,
    { actor: shadow.actor ?? note.actor, reason: shadow.reason ?? note.reason },
    until,
  )
}

/**
 * Whether a write limited to the override of `onlyIfActor` may apply to `record` (with
 * `orNoOverride`, also when no override is in force at `now`).
 */
export function overrideIsBy(
  record: CircuitRecord,
  onlyIfActor: string | undefined,
  orNoOverride?: { readonly now: number },
): boolean {
  if (onlyIfActor === undefined || (record.forced !== undefined && record.forced.actor === onlyIfActor)) return true
  return orNoOverride !== undefined && activeOverride(record, orNoOverride.now) === undefined
}

/** What an operator write carries besides its op id and clock. */
export interface OperatorWrite extends OperatorNote {
  readonly opId: string
  readonly now: number
  readonly onlyIfActor?: string
  readonly orNoOverride?: boolean
}

/** The next generation of an operator's write: probes of a half-open circuit go, counts stay. */
function operatorGeneration(record: CircuitRecord, request: OperatorWrite, entry: HistoryEntry) {
  // An operator's generation starts the list of transitions afresh (see `recentChanges`).
  const { forced: _previous, recentOps: _ops, recentChanges: _changes, ...rest } = record
  // The probes of a half-open circuit belong to the generation that ends here: their writes can no
  // longer settle their leases, so the leases (and the successes they counted) go with it.
  const frozen = rest.state === CircuitState.HALF_OPEN ? { ...rest, probes: [], successes: 0 } : rest
  return {
    ...frozen,
    ...withForced(record.forced),
    incarnation: incarnationAfter(record, request.opId),
    generation: record.generation + 1,
    changedBy: request.opId,
    history: withHistory(record, entry),
  }
}

/** {@link CircuitStore.setForced} (and each entry of `setMany`). */
export function applySetForced(
  record: CircuitRecord,
  forced: OverrideRequest | undefined,
  request: OperatorWrite,
): CircuitRecord {
  const orNoOverride = request.orNoOverride === true ? { now: request.now } : undefined
  if (record.changedBy === request.opId || !overrideIsBy(record, request.onlyIfActor, orNoOverride)) return record
  const { forced: _previous, ...next } = operatorGeneration(
    record,
    request,
    setForcedEntry(forced, request, request.now),
  ) as CircuitRecord
  return forced === undefined ? next : { ...next, forced: overrideAt(forced, request.now) }
}

/** {@link CircuitStore.setShadow} */
export function applySetShadow(
  record: CircuitRecord,
  shadow: ShadowRequest | undefined,
  request: OperatorWrite,
): CircuitRecord {
  if (record.changedBy === request.opId) return record
  const { shadow: _previous, ...next } = operatorGeneration(
    record,
    request,
    setShadowEntry(shadow, request, request.now),
  ) as CircuitRecord
  return shadow === undefined ? next : { ...next, shadow: shadowAt(shadow, request.now) }
}

/** {@link CircuitStore.reset}: the override goes; the shadow override and the history stay. */
export function applyReset(record: CircuitRecord, request: ResetRequest): CircuitRecord {
  if (record.changedBy === request.opId) return record
  return {
    ...initialRecord(record.circuitId),
    incarnation: incarnationAfter(record, request.opId),
    generation: record.generation + 1,
    changedAt: request.now,
    changedBy: request.opId,
    ...(record.shadow === undefined ? {} : { shadow: record.shadow }),
    history: withHistory(record, historyEntry(HistoryAction.RESET, request.now, request)),
  }
}
