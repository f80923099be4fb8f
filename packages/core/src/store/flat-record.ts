import { MAX_PROBE_SLOTS } from '../options.js'
import {
  type CircuitRecord,
  CircuitState,
  type ForcedState,
  HistoryAction,
  type HistoryEntry,
  MAX_FAILING_ENVIRONMENTS,
  MAX_HISTORY,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  type ProbeLease,
  type ShadowOverride,
} from '../state.js'
import { isOpId } from './op-id.js'

export { isOpId }

/*
 * Key-value stores (a DynamoDB item, a Redis hash) keep a record as flat fields. The names, the
 * encoding and the rules for telling a valid record from a foreign or corrupt one are written
 * once here, so every backend agrees on them.
 */

/** The field names of a flat record. Probe slot `i` uses `probe{i}Token` and `probe{i}ExpiresAt`. */
export const FlatField = {
  STATE: 'state',
  GENERATION: 'generation',
  OPEN_COUNT: 'openCount',
  CHANGED_AT: 'changedAt',
  FAILURES: 'failures',
  WINDOW_STARTED_AT: 'windowStartedAt',
  RETRY_AT: 'retryAt',
  SUCCESSES: 'successes',
  FORCED_STATE: 'forcedState',
  FORCED_REASON: 'forcedReason',
  FORCED_SINCE: 'forcedSince',
  FORCED_UNTIL: 'forcedUntil',
  INCARNATION: 'incarnation',
  CHANGED_BY: 'changedBy',
  /** A list of op ids, or (for stores of strings only) one string of ids separated by spaces. */
  RECENT_OPS: 'recentOps',
  CALLS: 'calls',
  SLOW_CALLS: 'slowCalls',
  /** Like {@link FlatField.RECENT_OPS}: a list, or one string separated by spaces. */
  FAILING_ENVIRONMENTS: 'failingEnvironments',
  FORCED_ACTOR: 'forcedActor',
  SHADOW_SINCE: 'shadowSince',
  SHADOW_UNTIL: 'shadowUntil',
  SHADOW_REASON: 'shadowReason',
  SHADOW_ACTOR: 'shadowActor',
  /** The operator history as one string: see {@link encodeHistory}. */
  HISTORY: 'history',
} as const

/** The field holding the token of probe slot `slot`. */
export function probeTokenField(slot: number): string {
  return `probe${slot}Token`
}

/** The field holding the lease expiry of probe slot `slot`. */
export function probeExpiresField(slot: number): string {
  return `probe${slot}ExpiresAt`
}

/**
 * The field naming the transition that started generation `generation` (see
 * {@link CircuitRecord.recentChanges}): one field per generation modulo {@link MAX_RECENT_CHANGES},
 * so a conditional write names its generation's maker without reading or reshaping a list.
 */
export function changeField(generation: number): string {
  return `change${generation % MAX_RECENT_CHANGES}`
}

/**
 * The value of {@link changeField} for generation `generation` made by `opId`: the generation comes
 * first, so a field left by a generation one window (or more) earlier, by a writer that did not
 * overwrite it, is never read as a later generation's maker.
 *
 * @example
 * changeValue(9, 'env-1:4') // '9 env-1:4'
 */
export function changeValue(generation: number, opId: string): string {
  return `${generation} ${opId}`
}

/** The generation (as written) and op id of a {@link changeValue}; `undefined` for anything else. */
function splitChangeValue(value: unknown): { readonly generation: string; readonly opId: string } | undefined {
  if (typeof value !== 'string') return undefined
  const space = value.indexOf(' ')
  const generation = value.slice(0, space)
  const opId = value.slice(space + 1)
  return space > 0 && /^\d+$/.test(generation) && isOpId(opId) ? { generation, opId } : undefined
}

/** Whether `value` is a {@link changeValue} (of any generation): anything else is malformed. */
export function isChangeValue(value: unknown): boolean {
  return splitChangeValue(value) !== undefined
}

/** The op id a {@link changeValue} names for generation `generation`, if it names that generation. */
function changeMaker(value: unknown, generation: number): string | undefined {
  const change = splitChangeValue(value)
  return change?.generation === String(generation) ? change.opId : undefined
}

/** Every field of {@link changeField}, for the writes that empty `recentChanges`. */
export const CHANGE_FIELDS: readonly string[] = Array.from({ length: MAX_RECENT_CHANGES }, (_, slot) =>
  changeField(slot),
)

/**
 * `recentChanges` read from the fields of {@link changeField}, for a record at `generation` started
 * by `changedBy`. A field is taken only for the generation it names; the current generation's must
 * also match `changedBy`, which every write that starts a generation sets.
 */
function decodeChanges(
  fields: FlatFields,
  generation: number,
  changedBy: string | undefined,
): readonly string[] | undefined {
  const changes: string[] = []
  for (let made = Math.max(1, generation - MAX_RECENT_CHANGES + 1); made <= generation; made++) {
    const opId = changeMaker(fields[changeField(made)], made)
    const current = made === generation
    changes.push(opId !== undefined && (!current || opId === changedBy) ? opId : '')
  }
  const first = changes.findIndex((opId) => opId !== '')
  return first < 0 ? undefined : changes.slice(first)
}

/** Every probe field a record may hold, for backends that clear them on a transition. */
export const PROBE_FIELDS: readonly string[] = Array.from({ length: MAX_PROBE_SLOTS }, (_, slot) => [
  probeTokenField(slot),
  probeExpiresField(slot),
]).flat()

/** The counter that each state requires besides the common fields. */
export const STATE_COUNTER: Readonly<Record<CircuitState, string>> = {
  [CircuitState.CLOSED]: FlatField.FAILURES,
  [CircuitState.OPEN]: FlatField.RETRY_AT,
  [CircuitState.HALF_OPEN]: FlatField.SUCCESSES,
}

/** A flat record's fields as a backend hands them over: numbers must already be numbers. */
export type FlatFields = Readonly<Record<string, unknown>>

/**
 * The outcome of decoding: a record, or why the fields are not one. A valid record may still carry a
 * `blemish`: a part that could not be read and was left out (malformed history entries or
 * transition names), which the store logs and its next write of that part replaces.
 */
export type DecodedRecord =
  | { readonly valid: true; readonly record: CircuitRecord; readonly blemish?: string }
  | { readonly valid: false; readonly reason: string; readonly record: CircuitRecord }

const STATES: ReadonlySet<unknown> = new Set(Object.values(CircuitState))

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

/**
 * A count or generation: a whole number from 0 up to 2^53 - 1. Past that, numbers lose their
 * units digit, `generation + 1` can equal `generation`, and fencing on it would stop working.
 */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/** A list of ids from a list or a string separated by spaces; invalid ids dropped, the newest `max` kept. */
function decodeIds(value: unknown, max: number): readonly string[] | undefined {
  const ids = typeof value === 'string' ? value.split(' ').filter((id) => id !== '') : value
  if (!Array.isArray(ids)) return undefined
  const valid = ids.filter(isOpId)
  if (valid.length === 0) return undefined
  return valid.length > max ? valid.slice(valid.length - max) : valid
}

function decodeProbes(fields: FlatFields): ProbeLease[] {
  const probes: ProbeLease[] = []
  for (let slot = 0; slot < MAX_PROBE_SLOTS; slot++) {
    const token = fields[probeTokenField(slot)]
    const expiresAt = fields[probeExpiresField(slot)]
    // A half-written slot holds no lease: it is free for the next probe.
    if (typeof token === 'string' && isNumber(expiresAt)) probes.push({ slot, token, expiresAt })
  }
  return probes
}

const HISTORY_ACTIONS: ReadonlySet<unknown> = new Set(Object.values(HistoryAction))
/** A history entry's time: digits only, as every store writes it. */
const HISTORY_TIME = /^-?\d{1,16}(?:\.\d{1,6})?$/

/**
 * Writes a history as one compact string: an entry per line, oldest first, each
 * `at<TAB>action<TAB>actor<TAB>reason<TAB>until` (absent fields empty). Entries never hold a tab or
 * a line break (see `historyText`), so a Lua script can append one without parsing the others.
 *
 * @example
 * ```ts
 * encodeHistory([{ at: 1000, action: 'force-open', actor: 'alice', reason: 'drill' }]) // '1000\tforce-open\talice\tdrill\t'
 * ```
 */
export function encodeHistory(history: readonly HistoryEntry[]): string {
  return history.map(encodeHistoryEntry).join('\n')
}

/** One line of {@link encodeHistory}. */
export function encodeHistoryEntry(entry: HistoryEntry): string {
  return [entry.at, entry.action, entry.actor ?? '', entry.reason ?? '', entry.until ?? ''].join('\t')
}

/**
 * Reads a history written by {@link encodeHistory}: entries that cannot be read are left out and
 * counted as `malformed`, the newest {@link MAX_HISTORY} kept. Anything but a string reads as one
 * malformed entry.
 */
export function decodeHistory(value: unknown): {
  readonly entries: readonly HistoryEntry[]
  readonly malformed: number
} {
  if (value === undefined) return { entries: [], malformed: 0 }
  if (typeof value !== 'string') return { entries: [], malformed: 1 }
  const entries: HistoryEntry[] = []
  let malformed = 0
  for (const line of value.split('\n')) {
    if (line === '') continue
    const entry = decodeHistoryEntry(line)
    if (entry === undefined) malformed++
    else entries.push(entry)
  }
  return { entries: entries.length > MAX_HISTORY ? entries.slice(entries.length - MAX_HISTORY) : entries, malformed }
}

function decodeHistoryEntry(line: string): HistoryEntry | undefined {
  const parts = line.split('\t')
  if (parts.length !== 5) return undefined
  const [at = '', action, actor = '', reason = '', until = ''] = parts
  if (!HISTORY_TIME.test(at) || !HISTORY_ACTIONS.has(action)) return undefined
  if (until !== '' && !HISTORY_TIME.test(until)) return undefined
  return {
    at: Number(at),
    action: action as HistoryAction,
    ...(actor === '' ? {} : { actor }),
    ...(reason === '' ? {} : { reason }),
    ...(until === '' ? {} : { until: Number(until) }),
  }
}

function decodeShadow(fields: FlatFields): ShadowOverride | undefined {
  const since = fields[FlatField.SHADOW_SINCE]
  if (!isNumber(since)) return undefined
  const until = fields[FlatField.SHADOW_UNTIL]
  // As for an override: an end that cannot be read must not make a timed shadow permanent.
  if (until !== undefined && !isNumber(until)) return undefined
  const reason = fields[FlatField.SHADOW_REASON]
  const actor = fields[FlatField.SHADOW_ACTOR]
  return {
    since,
    ...(isNumber(until) ? { until } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof actor === 'string' ? { actor } : {}),
  }
}

function decodeForced(fields: FlatFields): ForcedState | undefined {
  const state = fields[FlatField.FORCED_STATE]
  const since = fields[FlatField.FORCED_SINCE]
  if ((state !== CircuitState.OPEN && state !== CircuitState.CLOSED) || !isNumber(since)) return undefined
  const reason = fields[FlatField.FORCED_REASON]
  const until = fields[FlatField.FORCED_UNTIL]
  const actor = fields[FlatField.FORCED_ACTOR]
  // An end that cannot be read must not turn a timed override into a permanent one.
  if (until !== undefined && !isNumber(until)) return undefined
  return {
    state,
    since,
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(isNumber(until) ? { until } : {}),
    ...(typeof actor === 'string' ? { actor } : {}),
  }
}

/**
 * The generation a store restarts a corrupt record at: its own, if that much is readable.
 * Decoding and repairing both use it, so a write aimed at the repaired record matches it.
 */
export function repairGeneration(fields: FlatFields): number {
  const generation = fields[FlatField.GENERATION]
  return isCount(generation) ? generation : 0
}

/**
 * Reads flat fields as a record. Fields a store did not write (an unknown state, a missing or
 * non-numeric common field or state counter) make the record invalid: it then reads as a fresh
 * CLOSED circuit at {@link repairGeneration}, which the store's next write replaces. A malformed
 * probe slot or override is ignored rather than invalidating the record.
 *
 * @example
 * ```ts
 * decodeFlatRecord('payment-api', { state: 'OPEN', generation: 3, openCount: 1, changedAt: 1, retryAt: 9 }).valid // true
 * ```
 */
export function decodeFlatRecord(circuitId: string, fields: FlatFields): DecodedRecord {
  const state = fields[FlatField.STATE]
  const invalid = (reason: string): DecodedRecord => ({
    valid: false,
    reason,
    record: {
      circuitId,
      incarnation: '',
      state: CircuitState.CLOSED,
      generation: repairGeneration(fields),
      openCount: 0,
      changedAt: 0,
      failures: 0,
    },
  })
  if (!STATES.has(state)) return invalid(`unknown state ${JSON.stringify(state)}`)
  const circuitState = state as CircuitState
  const required = [FlatField.GENERATION, FlatField.OPEN_COUNT, FlatField.CHANGED_AT, STATE_COUNTER[circuitState]]
  const missing = required.filter((field) => !isNumber(fields[field]))
  if (missing.length > 0) return invalid(`missing or non-numeric ${missing.join(', ')}`)
  const counts = [
    FlatField.GENERATION,
    FlatField.OPEN_COUNT,
    FlatField.FAILURES,
    FlatField.SUCCESSES,
    FlatField.CALLS,
    FlatField.SLOW_CALLS,
  ]
  const badCounts = counts.filter((field) => fields[field] !== undefined && !isCount(fields[field]))
  if (badCounts.length > 0) return invalid(`not a whole number from 0 to 2^53 - 1: ${badCounts.join(', ')}`)
  const incarnation = fields[FlatField.INCARNATION]
  if (incarnation !== undefined && !isOpId(incarnation)) return invalid('malformed incarnation')
  const changedBy = fields[FlatField.CHANGED_BY]
  const recentOps = decodeIds(fields[FlatField.RECENT_OPS], MAX_RECENT_OPS)
  const recentChanges = decodeChanges(
    fields,
    fields[FlatField.GENERATION] as number,
    isOpId(changedBy) ? changedBy : undefined,
  )
  const forced = decodeForced(fields)
  const shadow = decodeShadow(fields)
  const history = decodeHistory(fields[FlatField.HISTORY])
  const malformedChanges = CHANGE_FIELDS.filter((field) => fields[field] !== undefined && !isChangeValue(fields[field]))
  const blemishes = [
    ...(history.malformed === 0 ? [] : [`${history.malformed} malformed history entries left out`]),
    ...(malformedChanges.length === 0 ? [] : [`malformed ${malformedChanges.join(', ')} left out`]),
  ]
  const blemish = blemishes.length === 0 ? {} : { blemish: blemishes.join('; ') }
  const base = {
    circuitId,
    incarnation: isOpId(incarnation) ? incarnation : '',
    ...(isOpId(changedBy) ? { changedBy } : {}),
    ...(recentOps === undefined ? {} : { recentOps }),
    ...(recentChanges === undefined ? {} : { recentChanges }),
    generation: fields[FlatField.GENERATION] as number,
    openCount: fields[FlatField.OPEN_COUNT] as number,
    changedAt: fields[FlatField.CHANGED_AT] as number,
    ...(forced === undefined ? {} : { forced }),
    ...(shadow === undefined ? {} : { shadow }),
    ...(history.entries.length === 0 ? {} : { history: history.entries }),
  }
  switch (circuitState) {
    case CircuitState.CLOSED: {
      const windowStartedAt = fields[FlatField.WINDOW_STARTED_AT]
      const calls = fields[FlatField.CALLS]
      const slowCalls = fields[FlatField.SLOW_CALLS]
      const failingEnvironments = decodeIds(fields[FlatField.FAILING_ENVIRONMENTS], MAX_FAILING_ENVIRONMENTS)
      return {
        valid: true,
        ...blemish,
        record: {
          ...base,
          state: CircuitState.CLOSED,
          failures: fields[FlatField.FAILURES] as number,
          ...(isNumber(windowStartedAt) ? { windowStartedAt } : {}),
          ...(isCount(calls) ? { calls } : {}),
          ...(isCount(slowCalls) ? { slowCalls } : {}),
          ...(failingEnvironments === undefined ? {} : { failingEnvironments }),
        },
      }
    }
    case CircuitState.OPEN:
      return {
        valid: true,
        ...blemish,
        record: { ...base, state: CircuitState.OPEN, retryAt: fields[FlatField.RETRY_AT] as number },
      }
    case CircuitState.HALF_OPEN:
      return {
        valid: true,
        ...blemish,
        record: {
          ...base,
          state: CircuitState.HALF_OPEN,
          successes: fields[FlatField.SUCCESSES] as number,
          probes: decodeProbes(fields),
        },
      }
  }
}

/**
 * Writes a record as flat fields (absent optional fields are left out).
 *
 * @example
 * ```ts
 * encodeFlatRecord(initialRecord('payment-api')) // { state: 'CLOSED', generation: 0, openCount: 0, changedAt: 0, failures: 0 }
 * ```
 */
export function encodeFlatRecord(record: CircuitRecord): Record<string, string | number> {
  const fields: Record<string, string | number> = {
    [FlatField.STATE]: record.state,
    [FlatField.GENERATION]: record.generation,
    [FlatField.OPEN_COUNT]: record.openCount,
    [FlatField.CHANGED_AT]: record.changedAt,
  }
  if (record.incarnation !== '') fields[FlatField.INCARNATION] = record.incarnation
  if (record.changedBy !== undefined) fields[FlatField.CHANGED_BY] = record.changedBy
  if (record.recentOps !== undefined && record.recentOps.length > 0) {
    fields[FlatField.RECENT_OPS] = record.recentOps.join(' ')
  }
  const changes = record.recentChanges ?? []
  changes.forEach((opId, index) => {
    const made = record.generation - (changes.length - 1 - index)
    if (opId !== '') fields[changeField(made)] = changeValue(made, opId)
  })
  switch (record.state) {
    case CircuitState.CLOSED:
      fields[FlatField.FAILURES] = record.failures
      if (record.windowStartedAt !== undefined) fields[FlatField.WINDOW_STARTED_AT] = record.windowStartedAt
      if (record.calls !== undefined) fields[FlatField.CALLS] = record.calls
      if (record.slowCalls !== undefined) fields[FlatField.SLOW_CALLS] = record.slowCalls
      if (record.failingEnvironments !== undefined && record.failingEnvironments.length > 0) {
        fields[FlatField.FAILING_ENVIRONMENTS] = record.failingEnvironments.join(' ')
      }
      break
    case CircuitState.OPEN:
      fields[FlatField.RETRY_AT] = record.retryAt
      break
    case CircuitState.HALF_OPEN:
      fields[FlatField.SUCCESSES] = record.successes
      for (const lease of record.probes) {
        fields[probeTokenField(lease.slot)] = lease.token
        fields[probeExpiresField(lease.slot)] = lease.expiresAt
      }
      break
  }
  if (record.forced !== undefined) {
    fields[FlatField.FORCED_STATE] = record.forced.state
    fields[FlatField.FORCED_SINCE] = record.forced.since
    if (record.forced.reason !== undefined) fields[FlatField.FORCED_REASON] = record.forced.reason
    if (record.forced.until !== undefined) fields[FlatField.FORCED_UNTIL] = record.forced.until
    if (record.forced.actor !== undefined) fields[FlatField.FORCED_ACTOR] = record.forced.actor
  }
  if (record.shadow !== undefined) {
    fields[FlatField.SHADOW_SINCE] = record.shadow.since
    if (record.shadow.until !== undefined) fields[FlatField.SHADOW_UNTIL] = record.shadow.until
    if (record.shadow.reason !== undefined) fields[FlatField.SHADOW_REASON] = record.shadow.reason
    if (record.shadow.actor !== undefined) fields[FlatField.SHADOW_ACTOR] = record.shadow.actor
  }
  if (record.history !== undefined && record.history.length > 0) {
    fields[FlatField.HISTORY] = encodeHistory(record.history)
  }
  return fields
}
