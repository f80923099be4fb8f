import {
  type CircuitRecord,
  decodeFlatRecord,
  FlatField,
  MAX_PROBE_SLOTS,
  probeExpiresField,
} from '@fleet-breaker/core'

/*
 * Turns a script's reply (see scripts.ts) into a record in the caller's clock. The scripts store
 * and decide with the server's clock; every time they hand back is moved by the difference between
 * the caller's clock and the server's at that call, so a caller can compare it with its own `now`.
 *
 * One call tells that difference only within its round trip: the script read the server's clock
 * (`serverNow`) at some moment between the caller's `now` and the answer's arrival, `elapsedMs`
 * later. So the offset `server - caller` lies in
 *
 *     [serverNow - (now + elapsedMs), serverNow - now]
 *
 * and a call that waited (for a connection, behind other commands) widens the interval rather than
 * being taken for a skewed clock.
 */

/**
 * A caller whose clock the call cannot show to be further than this from the server's is taken to
 * agree with it, and its times are not moved. Concurrent callers (and successive calls of one
 * caller) then see a stored time identically, instead of a few milliseconds apart by each call's
 * own latency. Real skew, such as a clock minutes off, is well above it. Skew below it is harmless:
 * the server's clock decides every transition, so at worst an environment asks for a probe a moment
 * early and is told the circuit is still open.
 */
export const CLOCK_AGREEMENT_MS = 100

/**
 * The milliseconds to add to the server's times to express them in the caller's clock: 0 when the
 * clocks may agree to within {@link CLOCK_AGREEMENT_MS}, else the smallest correction the call
 * allows (the end of the interval nearest to agreement).
 */
export function clockShift(serverNow: number, callerNow: number, elapsedMs: number): number {
  const low = serverNow - (callerNow + Math.max(elapsedMs, 0))
  const high = serverNow - callerNow
  if (low <= CLOCK_AGREEMENT_MS && high >= -CLOCK_AGREEMENT_MS) return 0
  return Math.round(high < 0 ? -high : -low)
}

/** What a script answered, with the record already expressed in the caller's clock. */
export interface ScriptAnswer {
  /** The record after the operation; absent only when a read found no record. */
  readonly record: CircuitRecord | undefined
  /** Why the stored data was unreadable, or `undefined` when it was fine. */
  readonly problem: string | undefined
  /** The operation's own answer ('' when it has none). */
  readonly outcome: string
  /** A part of a readable record that was left out (malformed history entries), if any. */
  readonly blemish?: string
}

/** Fields holding times. `changedAt` is handled apart: 0 there means "never changed", not a time. */
const TIME_FIELDS: readonly string[] = [
  FlatField.WINDOW_STARTED_AT,
  FlatField.RETRY_AT,
  FlatField.FORCED_SINCE,
  FlatField.FORCED_UNTIL,
  FlatField.SHADOW_SINCE,
  FlatField.SHADOW_UNTIL,
  ...Array.from({ length: MAX_PROBE_SLOTS }, (_, slot) => probeExpiresField(slot)),
]

/** Fields holding numbers; every other field (state names, reason, probe tokens) stays a string. */
const NUMERIC_FIELDS: ReadonlySet<string> = new Set([
  FlatField.GENERATION,
  FlatField.OPEN_COUNT,
  FlatField.CHANGED_AT,
  FlatField.FAILURES,
  FlatField.SUCCESSES,
  FlatField.CALLS,
  FlatField.SLOW_CALLS,
  ...TIME_FIELDS,
])

/** The strings the Lua side accepts as numbers too (scripts.ts `number_of`), and no others. */
const NUMERIC = /^-?\d+\.?\d*(?:[eE][+-]?\d+)?$/

function numberOf(value: string): number | undefined {
  if (!NUMERIC.test(value)) return undefined
  const number = Number(value)
  return Number.isFinite(number) ? number : undefined
}

function isStringArray(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

/**
 * Reads a script's reply for `circuitId`. `callerNow` is the caller's clock at the call and
 * `elapsedMs` how long the call took, used to move the server's times into that clock. Throws when
 * the reply does not have the shape every script produces (a different script answering under the
 * same SHA, say), rather than guessing.
 */
export function readAnswer(circuitId: string, reply: unknown, callerNow: number, elapsedMs = 0): ScriptAnswer {
  if (!isStringArray(reply) || reply.length < 3 || reply.length % 2 === 0) {
    throw new Error(`fleet-breaker: unexpected reply from a Redis store script: ${JSON.stringify(reply)}`)
  }
  const [serverNowText = '', problem = '', outcome = ''] = reply
  const serverNow = numberOf(serverNowText)
  if (serverNow === undefined) throw new Error(`fleet-breaker: unexpected server time in a reply: ${serverNowText}`)
  const answer = { problem: problem === '' ? undefined : problem, outcome }
  if (reply.length === 3) return { ...answer, record: undefined }

  const shift = clockShift(serverNow, callerNow, elapsedMs)
  const fields: Record<string, string | number> = {}
  for (let index = 3; index < reply.length; index += 2) {
    const field = reply[index] ?? ''
    const text = reply[index + 1] ?? ''
    fields[field] = NUMERIC_FIELDS.has(field) ? (numberOf(text) ?? text) : text
  }
  for (const field of TIME_FIELDS) {
    const time = fields[field]
    if (typeof time === 'number') fields[field] = time + shift
  }
  const changedAt = fields[FlatField.CHANGED_AT]
  if (typeof changedAt === 'number' && changedAt !== 0) fields[FlatField.CHANGED_AT] = changedAt + shift

  const decoded = decodeFlatRecord(circuitId, fields)
  // The scripts only hand back records they validated, so a failure here is a script defect.
  if (!decoded.valid)
    return { ...answer, record: decoded.record, problem: answer.problem ?? `reply: ${decoded.reason}` }
  const record = shiftHistory(decoded.record, shift)
  return decoded.blemish === undefined ? { ...answer, record } : { ...answer, record, blemish: decoded.blemish }
}

/** The record with its history's times moved by `shift` (the history travels as one string). */
function shiftHistory(record: CircuitRecord, shift: number): CircuitRecord {
  if (shift === 0 || record.history === undefined) return record
  const history = record.history.map((entry) => ({
    ...entry,
    at: entry.at + shift,
    ...(entry.until === undefined ? {} : { until: entry.until + shift }),
  }))
  return { ...record, history }
}
