import { randomUUID } from 'node:crypto'
import { retryDelayMs } from './backoff.js'
import type { CircuitView } from './circuit-view.js'
import { RejectionReason, StoreUnavailableError } from './errors.js'
import { TransitionReason } from './events.js'
import { LiveProbeGate } from './live-probes.js'
import type { LocalBreaker } from './local-breaker.js'
import type { ObserverHub } from './observe/hub.js'
import { type ResolvedOptions, StoreOutagePolicy } from './options.js'
import { PermitMode } from './permit.js'
import { type Admitted, type Decision, decided, type Refusal, type Ruling, refused } from './ruling.js'
import { activeOverride, type CircuitRecord, CircuitState, initialRecord, liveProbes } from './state.js'
import { freeProbeSlot, holdsLease } from './store/semantics.js'
import type { GuardedResult } from './store-guard.js'
import type { StoreLink } from './store-link.js'
import { openTarget } from './trip/open-target.js'
import type { TripPolicy } from './trip/policy.js'

/**
 * A step of the decision: final, or a store write to contend for: the opening of a closed circuit
 * whose count reached the threshold (its opener's answer was lost), the half-open entry, or a
 * probe slot.
 */
type Evaluation =
  | Ruling
  | {
      readonly contend: 'open' | 'enter-half-open' | 'acquire-probe'
      readonly record: CircuitRecord
      /** The local breaker's trial this evaluation gave the call, or was told it holds (0: none). */
      readonly trial?: number
    }

type Contention = 'open' | 'enter-half-open' | 'acquire-probe'

/** What a contention step ends in: a decision, a record to decide from, or one after an unanswered write. */
type Step = Decision | CircuitRecord | { readonly unanswered: CircuitRecord }

/** What the decider needs to know. */
export interface DeciderParts {
  readonly options: ResolvedOptions
  readonly view: CircuitView
  readonly link: StoreLink
  readonly local: LocalBreaker
  readonly policy: TripPolicy
  readonly observers: ObserverHub
}

/**
 * Decides whether a call may go ahead: from the cached view alone when it can be trusted, else
 * from the store, contending for the OPEN → HALF_OPEN transition or a probe slot when the circuit
 * is ready for a probe. When the store cannot be reached it applies the outage policy, with this
 * environment's own {@link LocalBreaker} so that it is never less protected than a breaker of its
 * own would make it.
 */
export class Decider {
  readonly #options: ResolvedOptions
  readonly #view: CircuitView
  readonly #link: StoreLink
  readonly #local: LocalBreaker
  readonly #policy: TripPolicy
  /** The close whose ramp is running (its `changedAt`), and the share of a call admitted so far. */
  #rampOf = 0
  #rampCredit = 0
  /**
   * The opening and half-open entry writes in flight, shared by this environment's invocations.
   * Made on first use: most circuits never contend, and a service may hold thousands of them.
   */
  #contending: Map<string, Promise<Step>> | undefined
  /** Whether live calls may be probes (`liveProbes`). */
  readonly #liveProbes: LiveProbeGate

  /** Told of the calls let through while the store is unavailable. */
  readonly #observers: ObserverHub

  constructor(parts: DeciderParts) {
    this.#options = parts.options
    this.#observers = parts.observers
    this.#liveProbes = new LiveProbeGate(parts.options)
    this.#view = parts.view
    this.#link = parts.link
    this.#local = parts.local
    this.#policy = parts.policy
  }

  /**
   * Decides from a record alone, or says which store write the decision depends on. `heldTrial`:
   * the local breaker's trial an earlier evaluation of this call was given (0: none), not asked again.
   */
  evaluate(record: CircuitRecord, now: number, signal: AbortSignal | undefined, heldTrial = 0): Evaluation {
    const forced = activeOverride(record, now)
    if (forced?.state === CircuitState.CLOSED) return admitted(PermitMode.UNCOUNTED, record, signal)
    if (forced !== undefined) return this.refuse(record, now)
    switch (record.state) {
      case CircuitState.CLOSED: {
        const trial = heldTrial === 0 ? this.#localTrial(now) : heldTrial
        if (trial === undefined) return this.#locallyOpen(now)
        if (this.#policy.tripGuard(record, now) !== undefined) return { contend: 'open', record, trial }
        if (this.isRamping(record, now) && !this.#rampAdmits(record, now)) {
          // Turned away by the ramp: the local breaker's trial, if this call was given it, is not spent.
          this.#local.giveBack(trial)
          return this.#ramping(record, now)
        }
        return admitted(PermitMode.COUNTED, record, signal, trial)
      }
      case CircuitState.OPEN:
        if (record.retryAt > now) return this.refuse(record, now)
        if (this.#liveProbes.withholds(record, now)) return this.#liveProbes.refuse(record, now)
        return { contend: 'enter-half-open', record }
      case CircuitState.HALF_OPEN:
        if (freeProbeSlot(record, this.#options.halfOpenMaxProbes, now) === undefined) return this.refuse(record, now)
        if (this.#liveProbes.withholds(record, now)) return this.#liveProbes.refuse(record, now)
        return { contend: 'acquire-probe', record }
    }
  }

  /**
   * Asks the local breaker about a call at `now`: `undefined` when it is open, else the number of
   * the trial it gave the call (0 when it is closed and gave none).
   */
  #localTrial(now: number): number | undefined {
    const before = this.#local.lastTrial
    if (this.#local.isOpen(now)) return undefined
    return this.#local.lastTrial === before ? 0 : this.#local.lastTrial
  }

  /** Whether `record` is a circuit that closed less than `rampUpMs` ago. */
  isRamping(record: CircuitRecord, now: number): boolean {
    const { rampUpMs } = this.#options
    return rampUpMs > 0 && record.generation > 0 && record.changedAt > 0 && now - record.changedAt < rampUpMs
  }

  /**
   * Whether this call is among the share admitted at this point of the ramp. Each call adds the
   * current share to a credit and is admitted when the credit reaches one: deterministic, and
   * exactly the share over many calls, without a random number per call.
   */
  #rampAdmits(record: CircuitRecord, now: number): boolean {
    if (this.#rampOf !== record.changedAt) {
      this.#rampOf = record.changedAt
      this.#rampCredit = 0
    }
    this.#rampCredit += Math.max(0, now - record.changedAt) / this.#options.rampUpMs
    // (A hair under one still counts: ten tenths add up to 0.999… in floating point.)
    if (this.#rampCredit < 1 - 1e-9) return false
    this.#rampCredit -= 1
    return true
  }

  #ramping(record: CircuitRecord, now: number): Refusal {
    const retryAfterMs = Math.min(1_000, Math.max(0, record.changedAt + this.#options.rampUpMs - now))
    return refused({
      circuitId: this.#options.circuitId,
      state: CircuitState.CLOSED,
      reason: RejectionReason.RAMPING,
      retryAfterMs,
    })
  }

  /** The full decision, reading the store when the view cannot be trusted. */
  async decide(signal: AbortSignal | undefined): Promise<Decision> {
    const now = this.#options.now()
    let record = this.#view.fresh(now) ?? this.#liveProbes.cached(this.#view, now)
    if (record === undefined) {
      const read = await this.#link.read()
      if (!read.ok) return this.#storeUnavailable(read.error, now, signal)
      record = read.value
      this.#liveProbes.learned(record, now)
    }
    const evaluation = this.evaluate(record, now, signal)
    if (!('contend' in evaluation)) return decided(evaluation)
    // One contention write per decision: a lost race is decided from the record it returns, so a
    // slow store costs this call at most a read, the write and the read after an unanswered write.
    const outcome = await this.#contend(evaluation.contend, evaluation.record, now, signal)
    if ('admitted' in outcome) return outcome
    // The trial of the local breaker, if this evaluation gave it, stays this call's after the write.
    const after = 'unanswered' in outcome ? outcome.unanswered : outcome
    return this.evaluateOrReject(after, now, signal, evaluation.trial)
  }

  /**
   * Contends for a probe of `record` (an OPEN circuit due for a retry, or a HALF_OPEN one) exactly
   * as {@link decide} would, whatever `liveProbes` says: the path of a scheduled health check.
   * Returns the decision, or the record to decide from when the write was refused or unanswered.
   */
  async contendForProbe(
    record: CircuitRecord,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<Decision | CircuitRecord> {
    const write = record.state === CircuitState.OPEN ? 'enter-half-open' : 'acquire-probe'
    const outcome = await this.#contend(write, record, now, signal)
    return 'unanswered' in outcome ? outcome.unanswered : outcome
  }

  /** The decision `record` allows without contending for anything. */
  evaluateOrReject(record: CircuitRecord, now: number, signal: AbortSignal | undefined, heldTrial = 0): Decision {
    const evaluation = this.evaluate(record, now, signal, heldTrial)
    const contended = 'contend' in evaluation
    const ruling = !contended ? evaluation : evaluation.contend === 'open' ? this.#opening() : this.refuse(record, now)
    // Turned away: the local breaker's trial, if this call holds it, goes to the next call.
    if (!ruling.admitted) this.#local.giveBack(contended ? (evaluation.trial ?? heldTrial) : heldTrial)
    return decided(ruling)
  }

  /** The refusal a record calls for at `now`. */
  refuse(record: CircuitRecord, now: number): Refusal {
    const circuitId = this.#options.circuitId
    const forced = activeOverride(record, now)
    // Literals without spreads: every turned-away call makes one, and Node 20 copies a spread
    // object through a slow path that costs it a microsecond.
    if (forced !== undefined) {
      return refused({
        circuitId,
        state: forced.state,
        reason: RejectionReason.FORCED_OPEN,
        retryAfterMs: forced.until === undefined ? this.#options.resetTimeoutMs : forced.until - now,
        forcedSince: forced.since,
        forcedUntil: forced.until,
        forcedActor: forced.actor,
        forcedReason: forced.reason,
      })
    }
    if (record.state === CircuitState.OPEN) {
      const retryAfterMs = Math.max(0, record.retryAt - now)
      return refused({ circuitId, state: record.state, reason: RejectionReason.OPEN, retryAfterMs })
    }
    const leases = record.state === CircuitState.HALF_OPEN ? liveProbes(record, now) : []
    const firstExpiry = leases.length === 0 ? now : Math.min(...leases.map((lease) => lease.expiresAt))
    const retryAfterMs = Math.max(0, firstExpiry - now)
    return refused({ circuitId, state: record.state, reason: RejectionReason.PROBES_BUSY, retryAfterMs })
  }

  /**
   * The refusal of a call that finds a closed circuit at its threshold after the store refused
   * this call's opening (calls counted in between, in the failure-rate mode): the circuit is as good
   * as open, so the call is turned away as an opening would turn it away. The next call decides
   * again, and opens the circuit if the threshold still holds.
   */
  #opening(): Refusal {
    const { circuitId, resetTimeoutMs, maxResetTimeoutMs } = this.#options
    return refused({
      circuitId,
      state: CircuitState.OPEN,
      reason: RejectionReason.OPEN,
      retryAfterMs: retryDelayMs(1, resetTimeoutMs, maxResetTimeoutMs),
    })
  }

  #locallyOpen(now: number): Refusal {
    return refused({
      circuitId: this.#options.circuitId,
      state: CircuitState.OPEN,
      reason: RejectionReason.LOCALLY_OPEN,
      retryAfterMs: Math.max(0, this.#local.openUntil - now),
    })
  }

  /**
   * Makes the write a decision depends on. Concurrent invocations of this environment contending
   * for the same opening or half-open entry share one write: the others then decide from what it
   * produced (the probe's lease is the first one's), which saves the store a burst of writes that
   * could only lose.
   */
  async #contend(
    write: Contention,
    record: CircuitRecord,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<Step> {
    if (write === 'acquire-probe') return this.#acquireProbe(record, now, signal)
    const key = `${write}/${record.incarnation}/${record.generation}`
    this.#contending ??= new Map()
    const contending = this.#contending
    const shared = contending.get(key)
    if (shared !== undefined) {
      await shared
      return this.#view.latest ?? record
    }
    const attempt = write === 'open' ? this.#open(record, now, signal) : this.#enterHalfOpen(record, now, signal)
    contending.set(key, attempt)
    try {
      return await attempt
    } finally {
      contending.delete(key)
    }
  }

  /**
   * Opens a closed circuit whose count already reached the threshold: the environment that counted
   * the last failure lost the answer, or the opening write with it. Whoever gets here first opens.
   */
  async #open(record: CircuitRecord, now: number, signal: AbortSignal | undefined): Promise<Step> {
    const guard = record.state === CircuitState.CLOSED ? this.#policy.tripGuard(record, now) : undefined
    if (guard === undefined) return record
    const result = await this.#link.transition(record, openTarget(this.#options, 1), guard, {
      reason: TransitionReason.FAILURE_THRESHOLD,
      from: CircuitState.CLOSED,
    })
    if (result.ok) return result.value.record
    // The store shows the threshold reached but could not be told: this environment opens itself.
    this.#local.trip(now, record)
    return this.#storeUnavailable(result.error, now, signal)
  }

  /** Contends for the OPEN → HALF_OPEN transition; the winner holds the first probe lease. */
  async #enterHalfOpen(record: CircuitRecord, now: number, signal: AbortSignal | undefined): Promise<Step> {
    const token = randomUUID()
    const result = await this.#link.transition(
      record,
      { state: CircuitState.HALF_OPEN, probe: { token, leaseMs: this.#options.probeLeaseMs } },
      { retryDue: true },
      { reason: TransitionReason.RETRY_DUE, from: record.state },
      token,
    )
    const halfOpen = { incarnation: record.incarnation, generation: record.generation + 1, openCount: record.openCount }
    if (!result.ok) return this.#unsureOfLease(result, halfOpen, token, now, signal)
    if (!result.value.applied) return result.value.record
    return probe(result.value.record, token, signal)
  }

  /** Contends for a free probe slot of a half-open circuit. */
  async #acquireProbe(record: CircuitRecord, now: number, signal: AbortSignal | undefined): Promise<Step> {
    const token = randomUUID()
    const { halfOpenMaxProbes, probeLeaseMs } = this.#options
    const result = await this.#link.acquireProbe(record.generation, halfOpenMaxProbes, probeLeaseMs, token)
    if (!result.ok) return this.#unsureOfLease(result, record, token, now, signal)
    const current = result.value.record
    if (result.value.lease !== undefined) return probe(current, token, signal)
    const sameHalfOpen = current.state === CircuitState.HALF_OPEN && current.generation === record.generation
    return sameHalfOpen ? decided(this.refuse(current, now)) : current
  }

  /**
   * A write that would have given this call a probe lease went unanswered: the lease may exist.
   * A read issued after it tells: holding the lease, the call is the probe; without it, the call is
   * decided from what the store holds, without contending again. When the store cannot be read
   * either, the lease (if any) is given back, even while calls skip the store, and the outage
   * policy decides the call, never as a probe: a probe must know it holds its lease.
   */
  async #unsureOfLease(
    result: GuardedResult<unknown> & { readonly ok: false },
    under: Pick<CircuitRecord, 'generation'>,
    token: string,
    now: number,
    signal: AbortSignal | undefined,
  ): Promise<Step> {
    if (result.skipped) return this.#storeUnavailable(result.error, now, signal)
    const read = await this.#link.read(false)
    if (read.ok) {
      const current = read.value
      if (current.state === CircuitState.HALF_OPEN && holdsLease(current, token)) return probe(current, token, signal)
      return { unanswered: current }
    }
    await this.#link.completeProbe(under.generation, token, false, { evenWhileSkipping: true })
    return this.#storeUnavailable(result.error, now, signal)
  }

  /**
   * The outage policy. Failing closed rejects. Failing open lets the call through unless the last
   * view known still rejects it (an OPEN circuit before its retry time, an override) or this
   * environment's own failures have opened its local breaker.
   */
  #storeUnavailable(cause: unknown, now: number, signal: AbortSignal | undefined): Decision {
    if (this.#options.storeOutage === StoreOutagePolicy.FAIL_CLOSED) {
      return { admitted: false, error: new StoreUnavailableError({ circuitId: this.#options.circuitId, cause }) }
    }
    const latest = this.#view.latest ?? initialRecord(this.#options.circuitId)
    const evaluation = this.evaluate(latest, now, signal)
    // A closed view was evaluated with the local breaker already; anything that needs a write is
    // let through as a plain counted call, unless the local breaker is open.
    if ('admitted' in evaluation) {
      if (evaluation.admitted) this.#observers.failOpen()
      return decided(evaluation)
    }
    if (evaluation.contend === 'open') {
      // The last view known shows the threshold reached: as a breaker of its own would, open.
      this.#local.trip(now, latest)
      return decided(this.#locallyOpen(now))
    }
    const trial = this.#localTrial(now)
    if (trial === undefined) return decided(this.#locallyOpen(now))
    this.#observers.failOpen()
    return admitted(PermitMode.COUNTED, latest, signal, trial)
  }
}

function admitted(mode: PermitMode, record: CircuitRecord, signal: AbortSignal | undefined, localTrial = 0): Admitted {
  return permitted(mode, record, '', signal, localTrial)
}

function probe(record: CircuitRecord, token: string, signal: AbortSignal | undefined): Admitted {
  return permitted(PermitMode.PROBE, record, token, signal, 0)
}

/** The permit's fields written out: a spread here costs every admitted call a slower object copy. */
function permitted(
  mode: PermitMode,
  record: CircuitRecord,
  token: string,
  signal: AbortSignal | undefined,
  localTrial: number,
): Admitted {
  const { incarnation, generation, openCount } = record
  return { admitted: true, permit: { mode, incarnation, generation, openCount, token, signal, localTrial } }
}
