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
 * Every write carries an `opId`, unique to that write, and is idempotent under it: a write that is
 * applied again (an SDK or client retrying a request whose answer was lost) changes nothing and
 * answers as the first application did. The record remembers who made its generation
 * (`changedBy`) and the recent counting writes (`recentOps`), so a writer whose answer was lost
 * learns from any later answer whether its write took effect. A write on a circuit the store holds
 * nothing for creates the record, with the write's `opId` as its `incarnation`.
 *
 * Times in requests are the caller's clock (`now`) plus durations. A store may decide with its own
 * clock (the Redis store uses the server's, the DynamoDB store the service's time from its
 * responses), but every record it returns is expressed in the caller's clock, so the caller can
 * compare it with `now`.
 *
 * A store returns the record each write produced, or the current record when a condition did not
 * hold, so the breaker never needs a second round trip to learn what happened.
 *
 * @example
 * ```ts
 * const outcome = await store.transition('payment-api', {
 *   opId: randomUUID(),
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
   * no longer closed at that generation, or when `opId` is already among its `recentOps`.
   */
  addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Adds an environment's counts of calls, failures and slow calls to the window of a closed circuit
   * of `generation` (failure-rate mode). Counts arriving when the window has lapsed start a new
   * window with them. Changes nothing when the circuit is no longer closed at that generation, or
   * when `opId` is already among its `recentOps`.
   */
  addCounts(circuitId: string, request: AddCountsRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Sets the failure count of a closed circuit of `generation` back to zero, unless `opId` is
   * already among its `recentOps` (a retried reset must not erase failures counted since).
   */
  resetFailures(circuitId: string, request: ResetFailuresRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Moves the circuit from `request.from` to `request.to` if, and only if, it is still in that
   * state at that generation and the guard holds. The new generation is `from.generation + 1`,
   * with `changedBy: opId`. Exactly one of any number of concurrent callers with the same `from`
   * succeeds. A transition applied again (same `opId`, record still `changedBy` it) answers
   * `applied: true` and changes nothing.
   */
  transition(circuitId: string, request: TransitionRequest, options?: StoreCallOptions): Promise<TransitionOutcome>

  /**
   * Takes a free (or lapsed) probe slot of a half-open circuit of `generation`. When a lease with
   * `token` is already held (the request applied before), answers with that lease.
   */
  acquireProbe(circuitId: string, request: AcquireProbeRequest, options?: StoreCallOptions): Promise<ProbeOutcome>

  /**
   * Gives back the lease held by `token`, if still held; counts a success when `success` is true.
   * Changes nothing when `opId` is already among the record's `recentOps`.
   */
  completeProbe(circuitId: string, request: CompleteProbeRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Sets (or, with `forced` absent, clears) the manual override. Starts a new generation made by
   * `opId`; applied again with the same `opId`, changes nothing. Appends the action to the record's
   * `history` in the same atomic write. With `onlyIfActor`, changes nothing unless the override the
   * record holds was set by that actor (the answer's `changedBy` tells whether it applied).
   */
  setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Switches the fleet-wide shadow override on (`shadow` present) or off. Like `setForced`: a new
   * generation made by `opId` (the counts of a closed window are kept, a half-open circuit's probe
   * leases go), idempotent under `opId`, and the action appended to `history` atomically.
   */
  setShadow(circuitId: string, request: SetShadowRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Puts the circuit back to a fresh CLOSED state, clearing any override. Starts a new generation
   * made by `opId`; applied again with the same `opId`, changes nothing while that generation
   * lasts. (An override or reset retried after a later generation started applies again, as a
   * second operator action would: operator writes are not fenced on a generation.)
   */
  reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord>

  /**
   * Sets (or clears) the manual override of many circuits; each one atomically, each new generation
   * made by `request.opId`, and, like `setForced`, applied again with the same `opId` changes nothing.
   */
  setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void>

  /** Removes the records of many circuits: each starts again as a fresh closed circuit. */
  clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void>

  /**
   * One page of the circuits the store holds, for operators' tools (never on a breaker's path).
   * Follow `cursor` until a page comes without one. A circuit that exists throughout the listing
   * appears at least once; a store whose listing can repeat one across pages says so (the Redis
   * store's SCAN can, while the server resizes its key table), so callers de-duplicate by id.
   * A page holds at most `limit` circuits (the Redis store takes it as a hint) and may hold none
   * while a cursor still follows. Records the store cannot read are logged and left out; data that
   * is not a circuit of this store (other items of a shared table, other keys) is never returned.
   * A `limit` or `cursor` that is not valid throws an `InvalidConfigurationError` naming it.
   */
  list(request: ListRequest, options?: StoreCallOptions): Promise<ListPage>
}

/** The most circuits a {@link CircuitStore.list} page may ask for. */
export const MAX_LIST_LIMIT = 1_000
/** The page size of {@link CircuitStore.list} when none is asked for. */
export const DEFAULT_LIST_LIMIT = 100

/** See {@link CircuitStore.list}. */
export interface ListRequest {
  /** Where to continue: the `cursor` of the previous page; absent for the first page. */
  readonly cursor?: string
  /** How many circuits a page may hold, 1 to {@link MAX_LIST_LIMIT}; default {@link DEFAULT_LIST_LIMIT}. */
  readonly limit?: number
}

/** One circuit of a {@link ListPage}. */
export interface ListedCircuit {
  readonly circuitId: string
  readonly record: CircuitRecord
}

/** One page of {@link CircuitStore.list}. */
export interface ListPage {
  readonly circuits: readonly ListedCircuit[]
  /** Pass it back for the next page; absent on the last page. Opaque: its form is the store's. */
  readonly cursor?: string
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

/**
 * Fences a write on one life of the record: when given and not empty, the record's `incarnation`
 * must be this one. Generation numbers start again at 0 in a record created after a loss, so the
 * generation alone cannot tell a call admitted under the lost record from one admitted under the
 * new one.
 */
export interface Fenced {
  readonly incarnation?: string
}

/** What every write carries. */
export interface WriteRequest {
  /**
   * Unique to this write (a random UUID): a store recognises the write by it when it is applied
   * again, and records it as `changedBy`, `recentOps` or the `incarnation` of a record it creates.
   */
  readonly opId: string
  /** The caller's clock when it made the write, in epoch milliseconds. */
  readonly now: number
}

/** See {@link CircuitStore.addFailure}. */
export interface AddFailureRequest extends WriteRequest, Fenced {
  readonly generation: number
  /**
   * The reporting environment, remembered among the window's `failingEnvironments` (at most
   * `MAX_FAILING_ENVIRONMENTS`, first come) for a `minEnvironments` quorum.
   */
  readonly environment?: string
  /** Failures older than this no longer count. */
  readonly windowMs: number
}

/** See {@link CircuitStore.addCounts}. */
export interface AddCountsRequest extends WriteRequest, Fenced {
  readonly generation: number
  /** Counts older than this no longer count: the window lasts this long from its first count. */
  readonly windowMs: number
  readonly calls: number
  readonly failures: number
  readonly slowCalls: number
  /** As in {@link AddFailureRequest.environment}; remembered only when `failures` is above zero. */
  readonly environment?: string
}

/** See {@link CircuitStore.resetFailures}. */
export interface ResetFailuresRequest extends WriteRequest, Fenced {
  readonly generation: number
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
  /** A closed circuit must have counted at least this many calls in its window. */
  readonly minCalls?: number
  /**
   * A closed circuit must have counted at most this many calls in its window. With `minFailures`
   * it bounds the failure rate from below (failures / calls ≥ minFailures / maxCalls) using only
   * comparisons, which every store can evaluate.
   */
  readonly maxCalls?: number
  /** A closed circuit must have counted at least this many slow calls in its window. */
  readonly minSlowCalls?: number
  /** A closed circuit's failures must come from at least this many distinct environments. */
  readonly minEnvironments?: number
  /** A half-open circuit must have counted at least this many successes. */
  readonly minSuccesses?: number
  /** An open circuit's retry time must have come (by the store's clock). */
  readonly retryDue?: boolean
  /**
   * A half-open circuit must hold a probe lease with this token (lapsed or not, as long as no other
   * probe has taken its slot): only a probe that really holds a lease decides the circuit.
   */
  readonly probeToken?: string
}

/** See {@link CircuitStore.transition}. */
export interface TransitionRequest extends WriteRequest {
  /** The state and generation (and, when known, the incarnation) the transition leaves. */
  readonly from: { readonly state: CircuitState; readonly generation: number; readonly incarnation?: string }
  readonly guard?: TransitionGuard
  readonly to: TransitionTarget
}

/** What a transition did: `applied` is true only for the one caller that made it. */
export interface TransitionOutcome {
  readonly applied: boolean
  /** The record produced, or the current record when the transition did not apply. */
  readonly record: CircuitRecord
}

/** See {@link CircuitStore.acquireProbe}. */
export interface AcquireProbeRequest extends ProbeClaim, WriteRequest {
  readonly generation: number
  readonly maxProbes: number
}

/** What a probe acquisition did: `lease` is present only when a slot was taken. */
export interface ProbeOutcome {
  readonly lease?: ProbeLease
  readonly record: CircuitRecord
}

/** See {@link CircuitStore.completeProbe}. */
export interface CompleteProbeRequest extends WriteRequest {
  readonly generation: number
  readonly token: string
  readonly success: boolean
}

/** An override to set: which state, why, by whom, and for how long (absent: until cleared). */
export interface OverrideRequest {
  readonly state: ForcedStateName
  readonly reason?: string
  readonly durationMs?: number
  /** Who sets it; kept with the override and in the history. */
  readonly actor?: string
}

/** Who made an operator write and why, for the circuit's history. */
export interface OperatorNote {
  readonly actor?: string
  readonly reason?: string
}

/** See {@link CircuitStore.setForced}. */
export interface SetForcedRequest extends WriteRequest, OperatorNote {
  /** The override to set; absent clears the current one (then `actor` and `reason` go to the history). */
  readonly forced?: OverrideRequest
  /**
   * Applies only when the record holds an override (in force or lapsed) whose `actor` is this one:
   * an automation clears (or replaces) only the override it set itself, atomically, even when a
   * person changed it meanwhile.
   */
  readonly onlyIfActor?: string
  /**
   * With `onlyIfActor`: applies also when no override is in force (none, or one whose `until` has
   * passed), so an automation sets its override only where nobody else's is in force, decided
   * atomically with the write.
   */
  readonly orNoOverride?: boolean
}

/** A shadow override to switch on: why, by whom, and for how long (absent: until switched off). */
export interface ShadowRequest {
  readonly reason?: string
  readonly actor?: string
  readonly durationMs?: number
}

/** See {@link CircuitStore.setShadow}. */
export interface SetShadowRequest extends WriteRequest, OperatorNote {
  /** The shadow override to switch on; absent switches it off (then `actor` and `reason` go to the history). */
  readonly shadow?: ShadowRequest
}

/** See {@link CircuitStore.reset}. */
export interface ResetRequest extends WriteRequest, OperatorNote {}

/** One circuit of a {@link CircuitStore.setMany} batch. */
export interface SetManyEntry {
  readonly circuitId: string
  /** The override to set; absent clears it. */
  readonly forced?: OverrideRequest
}

/** See {@link CircuitStore.setMany}; `actor` and `reason` go to the history of each circuit cleared. */
export interface SetManyRequest extends WriteRequest, OperatorNote {}
