import { randomUUID } from 'node:crypto'
import type { CircuitView, MadeHere } from './circuit-view.js'
import { type CircuitRecord, type CircuitState, generationMadeBy, initialRecord } from './state.js'
import type {
  CircuitStore,
  OperatorNote,
  OverrideRequest,
  ProbeOutcome,
  StoreCallOptions,
  TransitionGuard,
  TransitionOutcome,
  TransitionTarget,
} from './store/contract.js'
import type { GuardedResult, StoreGuard } from './store-guard.js'

/**
 * The store operations of one circuit as its breaker uses them. Each call gets a fresh op id (so
 * a retried request is recognised by the store), is numbered as it is issued (so answers are taken
 * in by issue order), runs under the store guard's deadline, and its answer is taken into the
 * circuit's view. Concurrent reads of the circuit share one request.
 */
export class StoreLink {
  readonly #circuitId: string
  readonly #guard: StoreGuard
  readonly #view: CircuitView
  readonly #now: () => number
  #reading: Promise<GuardedResult<CircuitRecord>> | undefined

  constructor(circuitId: string, guard: StoreGuard, view: CircuitView, now: () => number) {
    this.#circuitId = circuitId
    this.#guard = guard
    this.#view = view
    this.#now = now
  }

  /**
   * Reads the circuit; callers arriving while a read is in flight share its answer, unless they
   * need one issued after something they did (`join: false`).
   */
  read(join = true): Promise<GuardedResult<CircuitRecord>> {
    if (!join) return this.#read()
    if (this.#reading === undefined) {
      this.#reading = this.#read().finally(() => {
        this.#reading = undefined
      })
    }
    return this.#reading
  }

  async #read(): Promise<GuardedResult<CircuitRecord>> {
    const now = this.#now()
    const issued = this.#view.issue()
    const result = await this.#guard.call('get', this.#circuitId, (store, options) =>
      store.get(this.#circuitId, { ...options, now }),
    )
    if (!result.ok) return result
    const record = result.value ?? initialRecord(this.#circuitId)
    this.#view.learn(record, now, issued)
    return { ok: true, value: record }
  }

  /** Counts a failure; `opId` (default: a new one) names the write, so sending it again counts it once. */
  addFailure(
    under: Pick<CircuitRecord, 'incarnation' | 'generation'>,
    windowMs: number,
    environment?: string,
    opId?: string,
  ): Promise<GuardedResult<CircuitRecord>> {
    const { incarnation, generation } = under
    return this.#write(
      'addFailure',
      (store, sentOpId, now, options) =>
        store.addFailure(
          this.#circuitId,
          {
            opId: sentOpId,
            generation,
            incarnation,
            now,
            windowMs,
            ...(environment === undefined ? {} : { environment }),
          },
          options,
        ),
      false,
      opId,
    )
  }

  /** Adds counts to the rate window; `opId` names the write, to send it again after a lost answer. */
  addCounts(
    under: Pick<CircuitRecord, 'incarnation' | 'generation'>,
    windowMs: number,
    counts: { readonly calls: number; readonly failures: number; readonly slowCalls: number },
    environment: string,
    opId: string,
  ): Promise<GuardedResult<CircuitRecord>> {
    const { calls, failures, slowCalls } = counts
    const { incarnation, generation } = under
    return this.#write(
      'addCounts',
      (store, sentOpId, now, options) =>
        store.addCounts(
          this.#circuitId,
          { opId: sentOpId, generation, incarnation, now, windowMs, calls, failures, slowCalls, environment },
          options,
        ),
      false,
      opId,
    )
  }

  resetFailures(under: Pick<CircuitRecord, 'incarnation' | 'generation'>): Promise<GuardedResult<CircuitRecord>> {
    const { incarnation, generation } = under
    return this.#write('resetFailures', (store, opId, now, options) =>
      store.resetFailures(this.#circuitId, { opId, generation, incarnation, now }, options),
    )
  }

  /**
   * Attempts a transition. It is reported as this instance's own (`local`) by whichever answer
   * first shows it applied: its own, or a later one if its own is lost.
   */
  async transition(
    from: { readonly state: CircuitState; readonly generation: number; readonly incarnation?: string },
    to: TransitionTarget,
    guard: TransitionGuard | undefined,
    made: MadeHere,
    opId: string = randomUUID(),
  ): Promise<GuardedResult<TransitionOutcome>> {
    const now = this.#now()
    const issued = this.#view.issue()
    const request = {
      opId,
      from: {
        state: from.state,
        generation: from.generation,
        ...(from.incarnation === undefined ? {} : { incarnation: from.incarnation }),
      },
      to,
      now,
      ...(guard === undefined ? {} : { guard }),
    }
    this.#view.expect(opId, { ...made, to: to.state }, from.generation)
    const result = await this.#guard.call('transition', this.#circuitId, (store, options) =>
      store.transition(this.#circuitId, request, options),
    )
    if (!result.ok) {
      this.#view.distrust()
      return result
    }
    const { applied, record } = result.value
    // Refused, unless an earlier attempt of this request applied (its answer lost) and the circuit
    // has moved on since: the record still names it among its recent changes.
    const ours = applied || generationMadeBy(record, opId) !== undefined
    if (!ours) this.#view.refused(opId)
    // A probe's lease came with the half-open entry (same token): the probe deciding the circuit
    // proves that entry was applied, even if its own answer was lost.
    if (applied && guard?.probeToken !== undefined) this.#view.provenBy(guard.probeToken, record, now)
    this.#view.learn(record, now, issued, ours ? opId : undefined)
    return result
  }

  /** Takes a probe slot; `token` names the lease (and is the write's op id). */
  async acquireProbe(
    generation: number,
    maxProbes: number,
    leaseMs: number,
    token: string,
  ): Promise<GuardedResult<ProbeOutcome>> {
    const now = this.#now()
    const issued = this.#view.issue()
    const request = { opId: token, token, generation, maxProbes, leaseMs, now }
    const result = await this.#guard.call('acquireProbe', this.#circuitId, (store, options) =>
      store.acquireProbe(this.#circuitId, request, options),
    )
    if (!result.ok) {
      this.#view.distrust()
      return result
    }
    this.#view.learn(result.value.record, now, issued)
    return result
  }

  /** Gives a probe's lease back, counting a success; `evenWhileSkipping` as in {@link StoreGuard.call}. */
  completeProbe(
    generation: number,
    token: string,
    success: boolean,
    how: { readonly evenWhileSkipping?: boolean } = {},
  ): Promise<GuardedResult<CircuitRecord>> {
    return this.#write(
      'completeProbe',
      (store, opId, now, options) =>
        store.completeProbe(this.#circuitId, { opId, generation, token, success, now }, options),
      how.evenWhileSkipping,
    )
  }

  /** Sets or clears the override; throws when the store cannot be reached (operators must know). */
  setForced(forced: OverrideRequest | undefined, made: MadeHere, note: OperatorNote = {}): Promise<CircuitRecord> {
    return this.#operatorWrite('setForced', made, (store, opId, now, options) =>
      store.setForced(this.#circuitId, { opId, now, ...note, ...(forced === undefined ? {} : { forced }) }, options),
    )
  }

  /** Resets the circuit; throws when the store cannot be reached. */
  reset(made: MadeHere, note: OperatorNote = {}): Promise<CircuitRecord> {
    return this.#operatorWrite('reset', made, (store, opId, now, options) =>
      store.reset(this.#circuitId, { opId, now, ...note }, options),
    )
  }

  async #operatorWrite(
    name: string,
    made: MadeHere,
    write: (store: CircuitStore, opId: string, now: number, options: StoreCallOptions) => Promise<CircuitRecord>,
  ): Promise<CircuitRecord> {
    const opId = randomUUID()
    const now = this.#now()
    const issued = this.#view.issue()
    this.#view.expect(opId, made, this.#view.latest?.generation ?? 0, true)
    const record = await this.#guard.callOrThrow(name, this.#circuitId, (store, options) =>
      write(store, opId, now, options),
    )
    this.#view.learn(record, now, issued, opId)
    return record
  }

  async #write(
    name: string,
    write: (store: CircuitStore, opId: string, now: number, options: StoreCallOptions) => Promise<CircuitRecord>,
    evenWhileSkipping = false,
    opId: string = randomUUID(),
  ): Promise<GuardedResult<CircuitRecord>> {
    const now = this.#now()
    const issued = this.#view.issue()
    const result = await this.#guard.call(
      name,
      this.#circuitId,
      (store, options) => write(store, opId, now, options),
      evenWhileSkipping,
    )
    if (!result.ok) {
      this.#view.distrust()
      return result
    }
    this.#view.learn(result.value, now, issued)
    return result
  }
}
