import { StateCache } from './cache.js'
import { inferReason, StateChangeEmitter, type StateChangeListener, type TransitionReason } from './events.js'
import type { Logger } from './logger.js'
import { activeOverride, type CircuitRecord, type CircuitState, effectiveState, generationMadeBy } from './state.js'

/** What this instance last took in: the record's identity, the state callers experienced, and when it was asked. */
interface Known {
  readonly incarnation: string
  readonly generation: number
  /** The issue number of the store request whose answer this was. */
  readonly issued: number
  readonly state: CircuitState
  readonly forced: boolean
}

/** A transition this instance attempted whose answer was lost: it may have won. */
interface UnconfirmedTransition {
  readonly opId: string
  readonly reason: TransitionReason
  readonly from: CircuitState
  readonly to?: CircuitState
  readonly fromGeneration: number
  /** An operator's write: it applies whatever the generation, so no other writer's generation settles it. */
  readonly operator: boolean
  readonly incarnation: string
}

/** An expected transition an answer settled: this instance made it. */
interface Confirmed extends MadeHere {
  readonly opId: string
}

/** Why this instance attempted a transition, from which state, and (when known) to which. */
export interface MadeHere {
  readonly reason: TransitionReason
  readonly from: CircuitState
  readonly to?: CircuitState
}

/**
 * Unconfirmed transitions kept at once. Concurrent invocations share their opening and half-open
 * writes, so more than a few means the store is failing; the oldest are then forgotten.
 */
const MAX_UNCONFIRMED = 64
/** Incarnations left behind, remembered so that a late answer about one never brings it back. */
const MAX_RETIRED = 8

/**
 * This environment's knowledge of one circuit: the cached view, the order in which answers are
 * taken in, and the state-change events that follow from them.
 *
 * Answers are ordered by when their requests were issued, not by when they arrive: with many
 * concurrent invocations (and a store client using several connections) a late answer to an early
 * read must not replace a newer view. Within one incarnation of the record a higher generation is
 * always newer; a record of another incarnation (lost and created again) is taken only from a
 * request issued after the answer it replaces.
 *
 * Every transition this instance sends is expected by its op id until an answer settles it: its own
 * answer, or, when that was lost (a timeout, a dropped connection), the first later answer whose
 * record names that op id (`changedBy`, or among the `recentChanges` when the circuit has moved on
 * since). The `local` event is emitted then, exactly once, followed by what other writers made of
 * the circuit since, as observed. A transition whose answer was lost is not reported only if the
 * circuit moved on more than `MAX_RECENT_CHANGES` generations, or an operator wrote to it, before
 * any answer reached this instance.
 */
export class CircuitView {
  readonly #circuitId: string
  readonly #cache: StateCache
  readonly #events: StateChangeEmitter
  #issued = 0
  #known: Known | undefined
  readonly #unconfirmed: UnconfirmedTransition[] = []
  readonly #retired: string[] = []
  /** Told whenever the view is replaced (with the record taken in) or stops being trusted. */
  readonly #onChange: (taken?: CircuitRecord) => void

  /**
   * `onChange` is told whenever the view is replaced, with the record it took in from the store, or
   * stops being trusted, with none (before any event).
   */
  constructor(
    circuitId: string,
    cacheTtlMs: number,
    maxProbes: number,
    logger: Logger,
    onChange: (taken?: CircuitRecord) => void = ignore,
  ) {
    this.#circuitId = circuitId
    this.#cache = new StateCache(cacheTtlMs, maxProbes)
    this.#events = new StateChangeEmitter(logger)
    this.#onChange = onChange
  }

  /** Numbers a store request as it is issued; pass the number to {@link learn} with its answer. */
  issue(): number {
    return ++this.#issued
  }

  /** The view, if it may still be trusted at `now`. */
  fresh(now: number): CircuitRecord | undefined {
    return this.#cache.fresh(now)
  }

  /** Until when (epoch milliseconds) the view may be trusted; 0 when it may not. */
  get trustedUntil(): number {
    return this.#cache.trustedUntil
  }

  /** The last record taken in, however old. */
  get latest(): CircuitRecord | undefined {
    return this.#cache.latest
  }

  /** See {@link StateCache.dueForProbe}. */
  dueForProbe(now: number): CircuitRecord | undefined {
    return this.#cache.dueForProbe(now)
  }

  /** The next decision asks the store (a write's answer was lost). */
  distrust(): void {
    this.#cache.distrust()
    this.#onChange()
  }

  subscribe(listener: StateChangeListener): () => void {
    return this.#events.subscribe(listener)
  }

  /**
   * Remembers a transition about to be sent, so that whichever answer shows it first (its own, or a
   * later one after its own was lost) reports it as this instance's.
   */
  expect(opId: string, made: MadeHere, fromGeneration: number, operator = false): void {
    const incarnation = this.#known?.incarnation ?? ''
    this.#unconfirmed.push({ opId, ...made, fromGeneration, incarnation, operator })
    if (this.#unconfirmed.length > MAX_UNCONFIRMED) this.#unconfirmed.shift()
  }

  /** Forgets an expected transition the store answered it did not apply. */
  refused(opId: string): void {
    const index = this.#unconfirmed.findIndex((pending) => pending.opId === opId)
    if (index >= 0) this.#unconfirmed.splice(index, 1)
  }

  /**
   * Takes in a record the store returned for the request numbered `issued`, unless a newer answer
   * is already known; `applied` names the transition the answer says was applied, if any.
   * Refreshes the cache and emits the change: as this instance's own (`local`) when the record
   * confirms an expected transition, as observed otherwise. Returns whether the record was taken in.
   */
  learn(record: CircuitRecord, now: number, issued: number, applied?: string): boolean {
    const known = this.#known
    let local = applied === undefined ? undefined : this.#take(applied)
    const retired = this.#retired.includes(record.incarnation)
    if (retired || (known !== undefined && !isNewer(record, issued, known))) {
      // A newer view is already known; the transition this answer confirms is still ours to report.
      if (local !== undefined)
        this.#emit(
          local.from,
          local.to ?? effectiveState(record, now),
          now,
          local.reason,
          'local',
          record,
          generationMadeBy(record, local.opId),
        )
      return false
    }
    if (known !== undefined && known.incarnation !== record.incarnation && known.incarnation !== '') {
      this.#retired.push(known.incarnation)
      if (this.#retired.length > MAX_RETIRED) this.#retired.shift()
    }
    this.#cache.store(record, now)
    this.#onChange(record)
    const state = effectiveState(record, now)
    const forced = activeOverride(record, now) !== undefined
    this.#known = { incarnation: record.incarnation, generation: record.generation, issued, state, forced }
    local ??= this.#confirm(record)
    if (local !== undefined) {
      this.#emitLocal(local, state, now, record)
      return true
    }
    if (known === undefined || known.state === state) return true
    const generations = known.incarnation === record.incarnation ? record.generation - known.generation : 0
    const reason = inferReason(known.state, state, record, now, known.forced, generations)
    this.#emit(known.state, state, now, reason, 'observed', record)
    return true
  }

  #take(opId: string): Confirmed | undefined {
    const index = this.#unconfirmed.findIndex((pending) => pending.opId === opId)
    if (index < 0) return undefined
    const [pending] = this.#unconfirmed.splice(index, 1)
    if (pending === undefined) return undefined
    const { reason, from, to } = pending
    return to === undefined ? { opId, reason, from } : { opId, reason, from, to }
  }

  /**
   * Emits this instance's confirmed transition. One the circuit has since moved on from (confirmed
   * by a record of a later generation) is followed by what other writers made of it, as observed.
   */
  #emitLocal(local: Confirmed, state: CircuitState, now: number, record: CircuitRecord): void {
    const made = generationMadeBy(record, local.opId) ?? record.generation
    if (made === record.generation || local.to === undefined) {
      this.#emit(local.from, state, now, local.reason, 'local', record)
      return
    }
    this.#emit(local.from, local.to, now, local.reason, 'local', record, made)
    if (local.to === state) return
    const reason = inferReason(local.to, state, record, now, false, record.generation - made)
    this.#emit(local.to, state, now, reason, 'observed', record)
  }

  /**
   * Reports an expected transition that a later write proved applied (a probe whose lease came
   * with the half-open entry closed or reopened the circuit, so the entry was applied).
   */
  provenBy(opId: string, record: CircuitRecord, now: number): void {
    const made = this.#take(opId)
    if (made !== undefined)
      // The probe's write started the record's generation from the half-open one the entry started.
      this.#emit(
        made.from,
        made.to ?? effectiveState(record, now),
        now,
        made.reason,
        'local',
        record,
        record.generation - 1,
      )
  }

  /**
   * The expected transition `record` shows this instance made, if any (the oldest, should it name
   * several). Drops those the record shows were lost: it is the generation they aimed at and does
   * not name them.
   */
  #confirm(record: CircuitRecord): Confirmed | undefined {
    let confirmed: Confirmed | undefined
    let madeAt = Number.POSITIVE_INFINITY
    for (const pending of this.#unconfirmed) {
      const made = generationMadeBy(record, pending.opId)
      if (made !== undefined && made < madeAt) {
        madeAt = made
        confirmed = pending
      }
    }
    if (confirmed !== undefined) return this.#take(confirmed.opId)
    for (let index = this.#unconfirmed.length - 1; index >= 0; index--) {
      const pending = this.#unconfirmed[index]
      if (pending === undefined) continue
      // Not named, though the record is the generation it aimed at: another writer made it. (One
      // further on is not dropped: its own answer, still on the way, may yet confirm it.)
      const lost =
        !pending.operator &&
        record.incarnation === pending.incarnation &&
        record.generation === pending.fromGeneration + 1
      if (lost) this.#unconfirmed.splice(index, 1)
    }
    return undefined
  }

  #emit(
    from: CircuitState,
    to: CircuitState,
    at: number,
    reason: TransitionReason,
    origin: 'local' | 'observed',
    record: CircuitRecord,
    generation = record.generation,
  ): void {
    this.#events.emit({ circuitId: this.#circuitId, from, to, at, reason, origin, generation, record })
  }
}

function ignore(): void {}

/**
 * Whether `record`, the answer to request `issued`, is newer than what is known. Within one
 * incarnation generations only grow, so a higher one wins whenever it was asked; at the same
 * generation (counts changing) the later-issued request wins. A record of another incarnation
 * wins only when asked after the known one: an answer issued earlier may predate the loss.
 */
function isNewer(record: CircuitRecord, issued: number, known: Known): boolean {
  if (record.incarnation === known.incarnation) {
    if (record.generation !== known.generation) return record.generation > known.generation
    return issued > known.issued
  }
  return issued > known.issued
}
