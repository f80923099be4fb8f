import type { CircuitRecord, CircuitState, ForcedStateName, ProbeLease } from '../state.js'

/**
 * The contract every shared store implements.
 *
 * Each method is one atomic operation on one circuit (or, for the batch methods, on each circuit of
 * a batch). There is deliberately no "save the whole record": writes are conditional on the
 * circuit's `generation` and state, so a writer holding a stale view changes nothing and gets the
 * current record back instead. That is what keeps failure counts exact and makes exactly one
 * environment perform each transition.
 *
 * Times in requests are the caller's clock (`now`) plus durations. A store may decide with its own
 * clock (the Redis store uses the server's), but every record it returns is expressed in the
 * caller's clock, so the caller can compare it with `now`.
 *
 * A store returns the record each write produced, or the current record when a condition did not
 * hold, so the breaker never needs a second round trip to learn what happened.
 *
 * @example
 * ```ts
 * const outcome = await store.transition('payment-api', {
 *   from: { state: 'CLOSED', generation: 4 },
 *   guard: { minFailures: 3 },
 *   to: { state: 'OPEN', openCount: 1, retryInMs: 10_000 },
 *   now: Date.now(),
 * })
 * if (outcome.applied) console.log('this environment opened the circuit')
 * ```
 */
export interface CircuitStore {
  /** The current record, or `undefined` when the store holds none (a fresh, closed circuit). */
  get(circuitId: string, options?: StoreCallOptions): Promise<CircuitRecord | undefined>

  /** Many records at once; circuits the store holds nothing for are absent from the map. */
  getMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<ReadonlyMap<string, CircuitRecord>>

  /**
   * Counts one failure against a closed circuit of `generation`. A failure arriving when the
   * window has lapsed starts a new window with a count of one. Changes nothing when the circuit is
   * no longer closed at that generation.
   */
  addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /** Sets the failure count of a closed circuit of `generation` back to zero. */
  resetFailures(circuitId: string, request: ResetFailuresRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Moves the circuit from `request.from` to `request.to` if, and only if, it is still in that
   * state at that generation and the guard holds. The new generation is `from.generation + 1`.
   * Exactly one of any number of concurrent callers with the same `from` succeeds.
   */
  transition(circuitId: string, request: TransitionRequest, options?: StoreCallOptions): Promise<TransitionOutcome>

  /** Takes a free (or lapsed) probe slot of a half-open circuit of `generation`. */
  acquireProbe(circuitId: string, request: AcquireProbeRequest, options?: StoreCallOptions): Promise<ProbeOutcome>

  /** Gives back a probe lease; counts a success when `success` is true. */
  completeProbe(circuitId: string, request: CompleteProbeRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /** Sets (or, with `forced` absent, clears) the manual override. Starts a new generation. */
  setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /** Puts the circuit back to a fresh CLOSED state, clearing any override. Starts a new generation. */
  reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /** Sets (or clears) the manual override of many circuits; each one atomically. */
  setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void>

  /** Removes the records of many circuits: each starts again as a fresh closed circuit. */
  clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void>
}

/** Options every store call accepts. */
export interface StoreCallOptions {
  /** Aborted when the breaker stops waiting for the store (its `storeTimeoutMs` deadline). */
  readonly signal?: AbortSignal
  /**
   * The caller's clock when it makes a read (writes carry `now` in their request). A store that
   * decides with its own clock uses it to express the times it returns in the caller's clock.
   * Default `Date.now()`.
   */
  readonly now?: number
}

/** See {@link CircuitStore.addFailure}. */
export interface AddFailureRequest {
  readonly generation: number
  readonly now: number
  /** Failures older than this no longer count. */
  readonly windowMs: number
}

/** See {@link CircuitStore.resetFailures}. */
export interface ResetFailuresRequest {
  readonly generation: number
  readonly now: number
}

/** The state a transition produces, with what the breaker decided about it. */
export type TransitionTarget =
  | { readonly state: typeof CircuitState.OPEN; readonly openCount: number; readonly retryInMs: number }
  | { readonly state: typeof CircuitState.HALF_OPEN; readonly probe: ProbeClaim }
  | { readonly state: typeof CircuitState.CLOSED }

/** A request for a probe lease: the caller's token and how long the lease lives. */
export interface ProbeClaim {
  readonly token: string
  readonly leaseMs: number
}

/** Extra conditions a transition needs besides state and generation. */
export interface TransitionGuard {
  /** A closed circuit must have counted at least this many failures. */
  readonly minFailures?: number
  /** A half-open circuit must have counted at least this many successes. */
  readonly minSuccesses?: number
  /** An open circuit's retry time must have come (by the store's clock). */
  readonly retryDue?: boolean
}

/** See {@link CircuitStore.transition}. */
export interface TransitionRequest {
  readonly from: { readonly state: CircuitState; readonly generation: number }
  readonly guard?: TransitionGuard
  readonly to: TransitionTarget
  readonly now: number
}

/** What a transition did: `applied` is true only for the one caller that made it. */
export interface TransitionOutcome {
  readonly applied: boolean
  /** The record produced, or the current record when the transition did not apply. */
  readonly record: CircuitRecord
}

/** See {@link CircuitStore.acquireProbe}. */
export interface AcquireProbeRequest extends ProbeClaim {
  readonly generation: number
  readonly maxProbes: number
  readonly now: number
}

/** What a probe acquisition did: `lease` is present only when a slot was taken. */
export interface ProbeOutcome {
  readonly lease?: ProbeLease
  readonly record: CircuitRecord
}

/** See {@link CircuitStore.completeProbe}. */
export interface CompleteProbeRequest {
  readonly generation: number
  readonly token: string
  readonly success: boolean
  readonly now: number
}

/** An override to set: which state, why, and for how long (absent: until cleared). */
export interface OverrideRequest {
  readonly state: ForcedStateName
  readonly reason?: string
  readonly durationMs?: number
}

/** See {@link CircuitStore.setForced}. */
export interface SetForcedRequest {
  /** The override to set; absent clears the current one. */
  readonly forced?: OverrideRequest
  readonly now: number
}

/** See {@link CircuitStore.reset}. */
export interface ResetRequest {
  readonly now: number
}

/** One circuit of a {@link CircuitStore.setMany} batch. */
export interface SetManyEntry {
  readonly circuitId: string
  /** The override to set; absent clears it. */
  readonly forced?: OverrideRequest
}

/** See {@link CircuitStore.setMany}. */
export interface SetManyRequest {
  readonly now: number
}
