import { createHash } from 'node:crypto'
import {
  activeOverride,
  CircuitAdmin,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  InvalidConfigurationError,
  jsonConsoleLogger,
  type Logger,
  MAX_HISTORY_ACTOR_LENGTH,
} from '@fleet-breaker/core'
import { InvalidAlarmEventError } from '../errors.js'

/** A CloudWatch alarm's state, as EventBridge reports it. */
export interface AlarmState {
  readonly value: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA'
  readonly reason?: string
  /** When the alarm entered this state, e.g. `2026-12-02T15:10:57.551+0000`. */
  readonly timestamp?: string
}

/** An EventBridge "CloudWatch Alarm State Change" event (the fields the handler reads). */
export interface AlarmStateChangeEvent {
  readonly 'detail-type': 'CloudWatch Alarm State Change'
  readonly source: 'aws.cloudwatch'
  readonly id?: string
  readonly time: string
  readonly detail: {
    readonly alarmName: string
    readonly state: AlarmState
    readonly previousState?: AlarmState
  }
}

/** Options of {@link alarmHandler}. */
export interface AlarmHandlerOptions {
  /** The store the fleet's breakers share. */
  readonly store: CircuitStore
  /** The circuits each alarm controls, by alarm name. */
  readonly circuits: Readonly<Record<string, readonly string[]>>
  /** Where actions and problems go. Default the core's JSON console logger. */
  readonly logger?: Logger
  /** The clock, in epoch milliseconds. Default `Date.now`. */
  readonly now?: () => number
}

/**
 * What the handler did to one circuit.
 *
 * @example
 * ```ts
 * const forced = result.circuits.filter((circuit) => circuit.action === AlarmAction.FORCED_OPEN)
 * ```
 */
export const AlarmAction = {
  /** ALARM: the circuit was forced open (or the alarm's override renewed). */
  FORCED_OPEN: 'forced-open',
  /** OK: the override this alarm set was cleared. */
  CLEARED: 'cleared',
  /** The event is not newer than the last one this alarm acted on for the circuit (a repeat, or out of order). */
  STALE: 'stale',
  /** ALARM while someone else's override is in force: it is left alone. */
  OPERATOR_OVERRIDE: 'operator-override',
  /** OK, but the override in force (if any) is not this alarm's: it is left alone. */
  NOT_OURS: 'not-ours',
  /** OK with no override in force: nothing cleared, the OK recorded in the history (a later-arriving older ALARM is then stale). */
  RECORDED: 'recorded',
  /** INSUFFICIENT_DATA: neither opens nor clears. */
  NO_ACTION: 'no-action',
  /** The store failed; the event is retried. */
  ERROR: 'error',
} as const
export type AlarmAction = (typeof AlarmAction)[keyof typeof AlarmAction]

/** What the handler did, returned and logged. */
export interface AlarmHandlerResult {
  readonly alarmName: string
  readonly state: AlarmState['value']
  /** When the alarm entered the state (ISO 8601). */
  readonly stateAt: string
  /** The circuits and what was done to each; empty when no circuit is mapped to the alarm. */
  readonly circuits: ReadonlyArray<{
    readonly circuitId: string
    readonly action: AlarmAction
    readonly error?: string
  }>
}

/**
 * The actor an alarm's overrides carry.
 *
 * @example
 * ```ts
 * alarmActor('payments-5xx') // 'alarm:payments-5xx'
 * ```
 */
export function alarmActor(alarmName: string): string {
  const actor = `alarm:${alarmName}`
  if (actor.length <= MAX_HISTORY_ACTOR_LENGTH) return actor
  // The history keeps actors shortened: a long name keeps its start and gains a digest of the
  // whole, so two alarms sharing a long prefix never read each other's entries as their own.
  const digest = createHash('sha256').update(alarmName).digest('hex').slice(0, ACTOR_DIGEST_LENGTH)
  let head = ''
  for (const character of actor) {
    if (head.length + character.length > MAX_HISTORY_ACTOR_LENGTH - ACTOR_DIGEST_LENGTH - 1) break
    head += character
  }
  return `${head}~${digest}`
}

/** Hex digits of the digest a long alarm name's actor ends with. */
const ACTOR_DIGEST_LENGTH = 10

/**
 * A Lambda handler for EventBridge "CloudWatch Alarm State Change" events that lets an alarm on a
 * downstream's error metric control its circuits: ALARM forces them open fleet-wide (reason and
 * actor `alarm:<name>` name the alarm), OK clears the override this alarm set and nothing else, an
 * operator's override in particular; INSUFFICIENT_DATA changes nothing.
 *
 * Events are ordered by the time the alarm entered its state, not by arrival: the override's
 * reason and the circuit's history carry the time of the last event the alarm acted on, so a
 * repeated event, or one older than what was already done (an OK arriving after a newer ALARM),
 * changes nothing. Redelivery is therefore harmless; a store failure throws (after trying every
 * circuit) so that EventBridge's retry comes back.
 *
 * @example
 * ```ts
 * import { alarmHandler } from '@fleet-breaker/lambda'
 * import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
 *
 * export const handler = alarmHandler({
 *   store: new DynamoDBStore({ tableName: 'circuit-breakers' }),
 *   circuits: { 'payments-5xx': ['payment-api', 'refund-api'] },
 * })
 * ```
 */
export function alarmHandler(
  options: AlarmHandlerOptions,
): (event: AlarmStateChangeEvent) => Promise<AlarmHandlerResult> {
  const mapping = checkMapping(options)
  const logger = options.logger ?? jsonConsoleLogger
  const now = options.now ?? Date.now
  const admin = new CircuitAdmin({ store: options.store, logger, now })
  // One read per circuit: the function needs no batch read permission.
  const read = (circuitId: string) =>
    options.store.get(circuitId, { signal: AbortSignal.timeout(READ_TIMEOUT_MS), now: now() })

  return async function onAlarmStateChange(event: AlarmStateChangeEvent): Promise<AlarmHandlerResult> {
    const { alarmName, state, stateAt } = readEvent(event)
    const actor = alarmActor(alarmName)
    const reason = `${new Date(stateAt).toISOString()} ${state}: CloudWatch alarm "${alarmName}"`
    const failures: unknown[] = []
    const circuits = []
    for (const circuitId of mapping.get(alarmName) ?? []) {
      try {
        const change = { actor, reason, state, stateAt, now: now() }
        circuits.push({ circuitId, action: await act(admin, read, circuitId, change) })
      } catch (error) {
        failures.push(error)
        circuits.push({
          circuitId,
          action: AlarmAction.ERROR,
          error: error instanceof Error ? error.message : String(error),
        })
      }
    }
    const result = { alarmName, state, stateAt: new Date(stateAt).toISOString(), circuits }
    if (circuits.length === 0) logger.info('fleet-breaker: alarm maps to no circuit', { alarmName, state })
    else logger.info('fleet-breaker: alarm state change', { ...result })
    if (failures.length > 0) throw failures[0]
    return result
  }
}

/** How long reading a circuit may take before the event fails (and EventBridge retries it). */
const READ_TIMEOUT_MS = 5_000

interface AlarmChange {
  readonly actor: string
  readonly reason: string
  readonly state: AlarmState['value']
  readonly stateAt: number
  readonly now: number
}

async function act(
  admin: CircuitAdmin,
  read: (circuitId: string) => Promise<CircuitRecord | undefined>,
  circuitId: string,
  change: AlarmChange,
): Promise<AlarmAction> {
  if (change.state === 'INSUFFICIENT_DATA') return AlarmAction.NO_ACTION
  const record = await read(circuitId)
  if (change.stateAt <= lastActedOn(record, change.actor, change.now)) return AlarmAction.STALE
  const forced = record === undefined ? undefined : activeOverride(record, change.now)
  const ours = forced !== undefined && forced.actor === change.actor
  const { actor, reason } = change
  if (change.state === 'ALARM') {
    if (forced !== undefined && !ours) return AlarmAction.OPERATOR_OVERRIDE
    // Decided by the store: over its own override or where none is in force, never over one an
    // operator set between the read and this write.
    const opened = await admin.forceOpen(circuitId, { actor, reason, onlyIfActor: actor, orNoOverride: true })
    return opened.applied ? AlarmAction.FORCED_OPEN : AlarmAction.OPERATOR_OVERRIDE
  }
  if (forced !== undefined && !ours) return AlarmAction.NOT_OURS
  if (!ours) {
    // Nothing to clear, but an ALARM older than this OK may still be on its way (EventBridge does
    // not promise order): the OK goes to the history, so that ALARM is found stale. Not while the
    // circuit probes: an operator write would end its probes' generation.
    if (record?.state === CircuitState.HALF_OPEN) return AlarmAction.NOT_OURS
    const noted = await admin.clearOverride(circuitId, { actor, reason, onlyIfActor: actor, orNoOverride: true })
    return noted.applied ? AlarmAction.RECORDED : AlarmAction.NOT_OURS
  }
  // Decided by the store: an override someone else set in between is not cleared.
  const cleared = await admin.clearOverride(circuitId, { actor, reason, onlyIfActor: actor })
  return cleared.applied ? AlarmAction.CLEARED : AlarmAction.NOT_OURS
}

/** When the alarm last entered a state it acted on for this circuit, from its override and the history. */
function lastActedOn(record: CircuitRecord | undefined, actor: string, now: number): number {
  if (record === undefined) return Number.NEGATIVE_INFINITY
  let last = Number.NEGATIVE_INFINITY
  const forced = activeOverride(record, now)
  if (forced?.actor === actor) last = Math.max(last, stateTimeIn(forced.reason))
  for (const entry of record.history ?? []) {
    if (entry.actor !== undefined && sameActor(entry.actor, actor)) last = Math.max(last, stateTimeIn(entry.reason))
  }
  return last
}

function sameActor(kept: string, actor: string): boolean {
  // Exact: an alarm's actor is never longer than the history keeps (see alarmActor).
  return kept === actor
}

/** The state time an alarm's reason starts with; -Infinity for any other reason. */
function stateTimeIn(reason: string | undefined): number {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /.exec(reason ?? '')
  return match?.[1] === undefined ? Number.NEGATIVE_INFINITY : Date.parse(match[1])
}

function readEvent(event: AlarmStateChangeEvent): { alarmName: string; state: AlarmState['value']; stateAt: number } {
  const detail: unknown = typeof event === 'object' && event !== null ? event.detail : undefined
  const alarmName = field(detail, 'alarmName')
  const state = field(field(detail, 'state'), 'value')
  if (typeof alarmName !== 'string' || alarmName === '') {
    throw new InvalidAlarmEventError('not a CloudWatch Alarm State Change event: detail.alarmName is missing')
  }
  if (state !== 'ALARM' && state !== 'OK' && state !== 'INSUFFICIENT_DATA') {
    throw new InvalidAlarmEventError(
      `detail.state.value must be ALARM, OK or INSUFFICIENT_DATA; received ${String(state)}`,
    )
  }
  const stateAt = parseTime(field(field(detail, 'state'), 'timestamp')) ?? parseTime(event.time)
  if (stateAt === undefined) {
    throw new InvalidAlarmEventError('the event has neither detail.state.timestamp nor time as a date')
  }
  return { alarmName, state, stateAt }
}

/** CloudWatch writes `+0000` where ISO 8601 parsers want `+00:00`. */
function parseTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const parsed = Date.parse(value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'))
  return Number.isNaN(parsed) ? undefined : parsed
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined
}

function checkMapping(options: AlarmHandlerOptions): Map<string, readonly string[]> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidConfigurationError('options', options, 'an object')
  const { circuits } = options
  if (typeof circuits !== 'object' || circuits === null || Array.isArray(circuits)) {
    throw new InvalidConfigurationError('circuits', circuits, "an object of alarm name → ['circuit id', …]")
  }
  const mapping = new Map<string, readonly string[]>()
  for (const [alarmName, ids] of Object.entries(circuits)) {
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => typeof id !== 'string' || id.trim() === '')) {
      throw new InvalidConfigurationError(`circuits["${alarmName}"]`, ids, 'a non-empty array of circuit ids')
    }
    mapping.set(alarmName, [...new Set(ids)])
  }
  return mapping
}
