/**
 * The names of a circuit's states.
 *
 * @example
 * ```ts
 * import { CircuitState } from '@fleet-breaker/core'
 * if ((await breaker.getState()).state === CircuitState.OPEN) console.log('payment-api is down')
 * ```
 */
export const CircuitState = {
  /** Calls flow; failures are counted. */
  CLOSED: 'CLOSED',
  /** Calls are rejected until the retry time. */
  OPEN: 'OPEN',
  /** A limited number of probe calls decide whether the circuit closes or reopens. */
  HALF_OPEN: 'HALF_OPEN',
} as const

/** One of `'CLOSED'`, `'OPEN'` or `'HALF_OPEN'`. */
export type CircuitState = (typeof CircuitState)[keyof typeof CircuitState]

/** The states an operator can force a circuit into. */
export type ForcedStateName = typeof CircuitState.OPEN | typeof CircuitState.CLOSED

/**
 * A manual override, kept in the store so that it applies to the whole fleet.
 * While it is in force it wins over the automatic state, which is frozen underneath it.
 */
export interface ForcedState {
  readonly state: ForcedStateName
  /** Free text for operators, shown in errors and events. */
  readonly reason?: string
  /** When the override was set, in epoch milliseconds. */
  readonly since: number
  /** When the override lapses, in epoch milliseconds; absent means until cleared. */
  readonly until?: number
  /** Who set it: a person, a role or an automation (an alarm), as the operator's tool named it. */
  readonly actor?: string
}

/**
 * A fleet-wide shadow override, kept in the store: while it is in force every breaker of the circuit
 * decides and records as usual but lets through the calls it would have rejected (see the `shadow`
 * option). Unlike a forced state it leaves the automatic state and its counting alone.
 */
export interface ShadowOverride {
  /** When shadow mode was switched on, in epoch milliseconds. */
  readonly since: number
  /** When it lapses, in epoch milliseconds; absent means until switched off. */
  readonly until?: number
  /** Free text for operators, shown in logs and snapshots. */
  readonly reason?: string
  /** Who switched it on. */
  readonly actor?: string
}

/**
 * The operator actions a circuit's history records.
 *
 * @example
 * ```ts
 * import { HistoryAction } from '@fleet-breaker/core'
 * const forcedOpen = history.filter((entry) => entry.action === HistoryAction.FORCE_OPEN)
 * ```
 */
export const HistoryAction = {
  FORCE_OPEN: 'force-open',
  FORCE_CLOSE: 'force-close',
  /** The forced state was removed. */
  CLEAR: 'clear',
  RESET: 'reset',
  SHADOW_ON: 'shadow-on',
  SHADOW_OFF: 'shadow-off',
} as const
export type HistoryAction = (typeof HistoryAction)[keyof typeof HistoryAction]

/**
 * One operator action on a circuit, as its bounded history keeps it: what, when, by whom and why.
 * Reasons and actors are kept shortened (see {@link MAX_HISTORY_REASON_LENGTH}); the override in
 * force keeps them whole.
 */
export interface HistoryEntry {
  /** When the action was applied, in epoch milliseconds. */
  readonly at: number
  readonly action: HistoryAction
  readonly actor?: string
  readonly reason?: string
  /** When the override it set lapses (force-open, force-close, shadow-on with a duration). */
  readonly until?: number
}

/** How many operator actions a record keeps, newest last; older ones roll off. */
export const MAX_HISTORY = 20
/** The longest reason a history entry keeps; longer ones are cut, with `…` at the end. */
export const MAX_HISTORY_REASON_LENGTH = 80
/** The longest actor a history entry keeps; longer ones are cut, with `…` at the end. */
export const MAX_HISTORY_ACTOR_LENGTH = 64

/** A half-open probe's claim on one of the `halfOpenMaxProbes` slots. It lapses at `expiresAt`. */
export interface ProbeLease {
  readonly slot: number
  readonly token: string
  readonly expiresAt: number
}

/**
 * How many op ids a record remembers (see {@link CircuitRecordBase.recentOps}). A write retried
 * after this many later counting writes to the same circuit, at the same generation, is no longer
 * recognised; retries by SDKs and clients come within seconds, long before that.
 */
export const MAX_RECENT_OPS = 32

/**
 * How many generations back a record names the transition that started each (see
 * {@link CircuitRecordBase.recentChanges}): enough for an environment whose transition's answer was
 * lost to learn that it won even after the circuit has moved on a few times, and a bound on the
 * record's size.
 */
export const MAX_RECENT_CHANGES = 8

interface CircuitRecordBase {
  readonly circuitId: string
  /**
   * Names this life of the record: the op id of the write that created it, `''` for a circuit the
   * store holds nothing for. A record lost and created again (a Redis restart without persistence,
   * an expired item, `clearMany`) has a new incarnation, so an environment tells "an older
   * generation" from "a new record after data loss".
   */
  readonly incarnation: string
  /**
   * The op id of the write that started the current generation (a transition, an override, a
   * reset). A writer whose answer was lost learns from any later answer that its write won.
   */
  readonly changedBy?: string
  /**
   * The op ids of the counting writes applied at this generation (failures, resets of the count,
   * probe completions), oldest first, at most {@link MAX_RECENT_OPS}; a new generation starts an
   * empty list. A retried write whose id is here changes nothing, so a request retried after it
   * was applied is never counted twice.
   */
  readonly recentOps?: readonly string[]
  /**
   * The op ids of the transitions that started the last generations, oldest first, the last one
   * starting the current `generation` (entry `i` started generation
   * `generation - (recentChanges.length - 1 - i)`), at most {@link MAX_RECENT_CHANGES}; `''` for a
   * generation whose write is not known. An operator's write (an override, a reset) empties it. So
   * a writer whose transition's answer was lost learns that it won even after other writers have
   * moved the circuit on.
   */
  readonly recentChanges?: readonly string[]
  /**
   * Incremented by every transition. A call remembers the generation it was admitted under and its
   * outcome only counts while the generation is unchanged, so a result from before a transition
   * never counts against the new state.
   */
  readonly generation: number
  /** Opens since the circuit last closed; drives the exponential backoff. */
  readonly openCount: number
  /** When the current state began, in epoch milliseconds (0 for a circuit never written). */
  readonly changedAt: number
  readonly forced?: ForcedState
  /** The shadow override, if one was set (in force or lapsed; see {@link activeShadow}). */
  readonly shadow?: ShadowOverride
  /**
   * The last operator actions (overrides, clears, resets, shadow switches), oldest first, at most
   * {@link MAX_HISTORY}. Kept through transitions and resets, written atomically with each action.
   */
  readonly history?: readonly HistoryEntry[]
}

/**
 * How many distinct failing environments a record remembers per window: enough for any
 * `minEnvironments` quorum (1 to this), and a bound on the record's size.
 */
export const MAX_FAILING_ENVIRONMENTS = 16

/** A closed circuit: calls flow and failures are counted. */
export interface ClosedRecord extends CircuitRecordBase {
  readonly state: typeof CircuitState.CLOSED
  /** Failures counted in the current window. */
  readonly failures: number
  /** When the first count of the current window was made. */
  readonly windowStartedAt?: number
  /** Calls counted in the current window (failure-rate mode only). */
  readonly calls?: number
  /** Slow calls counted in the current window (failure-rate mode only). */
  readonly slowCalls?: number
  /**
   * The distinct environments that reported failures in the current window, at most
   * {@link MAX_FAILING_ENVIRONMENTS}: a `minEnvironments` quorum is decided on them.
   */
  readonly failingEnvironments?: readonly string[]
}

/** An open circuit: calls are rejected until `retryAt`. */
export interface OpenRecord extends CircuitRecordBase {
  readonly state: typeof CircuitState.OPEN
  /** When the first probe may be sent, set once by the transition that opened the circuit. */
  readonly retryAt: number
}

/** A half-open circuit: probes holding a lease decide what happens next. */
export interface HalfOpenRecord extends CircuitRecordBase {
  readonly state: typeof CircuitState.HALF_OPEN
  /** Successful probes counted in this half-open period. */
  readonly successes: number
  /** Leases held by probes in flight (expired ones may linger until a slot is reused). */
  readonly probes: readonly ProbeLease[]
}

/**
 * The shared state of one circuit: what stores persist and what events carry. Plain JSON.
 *
 * @example
 * ```ts
 * const record: CircuitRecord = { circuitId: 'payment-api', incarnation: 'a1', state: 'OPEN', generation: 1, openCount: 1, changedAt: 0, retryAt: 10_000 }
 * ```
 */
export type CircuitRecord = ClosedRecord | OpenRecord | HalfOpenRecord

/**
 * The record of a circuit the store holds nothing for: closed, generation 0, nothing counted.
 *
 * @example
 * ```ts
 * const fresh = initialRecord('payment-api') // { state: 'CLOSED', generation: 0, failures: 0, ... }
 * ```
 */
export function initialRecord(circuitId: string): ClosedRecord {
  return {
    circuitId,
    incarnation: '',
    state: CircuitState.CLOSED,
    generation: 0,
    openCount: 0,
    changedAt: 0,
    failures: 0,
  }
}

/** The override in force at `now`, if any. */
export function activeOverride(record: CircuitRecord, now: number): ForcedState | undefined {
  const forced = record.forced
  if (forced === undefined) return undefined
  return forced.until === undefined || forced.until > now ? forced : undefined
}

/**
 * The shadow override in force at `now`, if any.
 *
 * @example
 * ```ts
 * if (activeShadow(record, Date.now()) !== undefined) console.log('payment-api is in shadow mode')
 * ```
 */
export function activeShadow(record: CircuitRecord, now: number): ShadowOverride | undefined {
  const shadow = record.shadow
  if (shadow === undefined) return undefined
  return shadow.until === undefined || shadow.until > now ? shadow : undefined
}

/**
 * The state callers experience at `now`: a forced state in force wins over the automatic one.
 *
 * @example
 * ```ts
 * effectiveState(record, Date.now()) // 'OPEN' while an operator's forceOpen() is in force
 * ```
 */
export function effectiveState(record: CircuitRecord, now: number): CircuitState {
  return activeOverride(record, now)?.state ?? record.state
}

/** Probe leases that have not lapsed at `now`. */
export function liveProbes(record: HalfOpenRecord, now: number): ProbeLease[] {
  return record.probes.filter((lease) => lease.expiresAt > now)
}

/**
 * The generation that the write `opId` started, if `record` still names it (as `changedBy` or among
 * its `recentChanges`).
 *
 * @example
 * ```ts
 * generationMadeBy({ ...record, generation: 7, recentChanges: ['a', 'b'] }, 'a') // 6
 * ```
 */
export function generationMadeBy(record: CircuitRecord, opId: string): number | undefined {
  if (record.changedBy === opId) return record.generation
  const changes = record.recentChanges
  if (changes === undefined) return undefined
  const index = changes.lastIndexOf(opId)
  return index < 0 ? undefined : record.generation - (changes.length - 1 - index)
}
