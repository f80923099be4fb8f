import {
  callWithDeadline,
  type DeadlineScheduler,
  NEVER_ABORTED,
  type OnError,
  type OnValue,
  settleCall,
  sharedDeadlineScheduler,
} from './call-deadline.js'
import { CircuitView } from './circuit-view.js'
import { Decider } from './decider.js'
import {
  CallTimeoutError,
  type CircuitBreakerError,
  CircuitOpenError,
  ConcurrencyLimitError,
  InvalidConfigurationError,
  isCallTimeoutError,
} from './errors.js'
import { type StateChangeListener, TransitionReason } from './events.js'
import { ConcurrencyLimiter } from './limiter.js'
import { LocalBreaker } from './local-breaker.js'
import { ObserverHub } from './observe/hub.js'
import {
  type CircuitBreakerOptions,
  type Fallback,
  type FallbackKind,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'
import { PermitMode, type PermitState, type Verdict } from './permit.js'
import { PERMIT_STATE, type PermitHandle, parsePortablePermit, permitStateOf } from './portable-permit.js'
import { decideProbeNow, type ProbeSkip, ProbeSkipReason } from './probe-now.js'
import { Recorder } from './recorder.js'
import type { Decision, Ruling } from './ruling.js'
import { ShadowMode } from './shadow.js'
import { type CircuitSnapshot, toSnapshot } from './snapshot.js'
import {
  activeOverride,
  type CircuitRecord,
  CircuitState,
  effectiveState,
  type ForcedStateName,
  initialRecord,
} from './state.js'
import type { OperatorNote, OverrideRequest } from './store/contract.js'
import { StoreGuard } from './store-guard.js'
import { StoreLink } from './store-link.js'
import { tripPolicyFor } from './trip/policy.js'
import { hotLaneClock } from './turn-clock.js'

export type { Verdict }

/** Options of a single {@link CircuitBreaker.execute} call. */
export interface ExecuteOptions {
  /**
   * The caller's own cancellation (for example a deadline derived from the Lambda context's
   * remaining time). It is passed on to the function; a call the caller cancels is not counted.
   */
  readonly signal?: AbortSignal
  /**
   * The invocation's Lambda context: a call still running `deadlineMarginMs` before the
   * invocation's end is aborted with `CallTimeoutError` and counted as a failure, so its outcome is
   * recorded (and a probe's lease given back) before Lambda stops the environment.
   */
  readonly lambdaContext?: LambdaDeadline
  /**
   * The same, as a deadline in epoch milliseconds (of the breaker's clock), used when no
   * `lambdaContext` is given. A value that is not a number rejects the call with an
   * `InvalidConfigurationError` naming `deadline`; one further away than a timer can count (about
   * 24.8 days) sets no deadline.
   */
  readonly deadline?: number
}

/** The part of the Lambda context the breaker reads. */
export interface LambdaDeadline {
  getRemainingTimeInMillis(): number
}

/**
 * Permission to make one call, for adapters that cannot wrap the call in a function (a Middy
 * middleware checks in `before` and records in `after` / `onError`). Record exactly one outcome;
 * later ones are ignored. Settle every permit (`release()` when the call was not made): one that is
 * never settled keeps its concurrency slot, and a probe's lease lapses only after `probeLeaseMs`.
 *
 * @example
 * ```ts
 * const admission = await breaker.admit()
 * if (!admission.admitted) throw admission.error
 * try {
 *   const response = await callPayment()
 *   await admission.permit.recordResult(response)
 * } catch (error) {
 *   await admission.permit.recordError(error)
 *   throw error
 * }
 * ```
 */
export interface CallPermit {
  readonly circuitId: string
  /** Whether this call is a half-open probe: its outcome decides whether the circuit closes. */
  readonly isProbe: boolean
  /** Records a returned value, a failure if `isFailureResult` says so. */
  recordResult(result: unknown): Promise<Verdict>
  /** Records a thrown error, a failure if `isFailure` says so (a `CallTimeoutError` always is). */
  recordError(error: unknown): Promise<Verdict>
  /** Records a success, for adapters that classify outcomes themselves. */
  recordSuccess(): Promise<Verdict>
  /** Records a failure, for adapters that classify outcomes themselves. */
  recordFailure(): Promise<Verdict>
  /** Gives the permit back without counting anything (the call was not the downstream's doing). */
  release(): Promise<void>
}

/** The breaker's answer to "may I call?". */
export type Admission =
  | { readonly admitted: true; readonly permit: CallPermit }
  | { readonly admitted: false; readonly error: CircuitBreakerError }

/** The answer to {@link CircuitBreaker.admitProbe}: a probe permit holding a lease, or why not. */
export type ProbeAdmission = { readonly admitted: true; readonly permit: CallPermit } | ProbeSkip

/** Options of the manual controls. */
export interface OverrideOptions {
  /** Shown to operators in errors, events and logs. */
  readonly reason?: string
  /** Lapses on its own after this many milliseconds; absent: until cleared. */
  readonly durationMs?: number
  /** Who acts (a person, a role, an automation); kept with the override and in the circuit's history. */
  readonly actor?: string
}

/**
 * Which breaker raised each call timeout, so a breaker tells its own from a caller's (or an outer
 * breaker's). One map for the process rather than one set per breaker: a service may hold
 * thousands of circuits, and timeouts are rare.
 */
const timeoutRaisers = new WeakMap<object, object>()

/** The options of a call made without any. */
const NO_OPTIONS: ExecuteOptions = Object.freeze({})

const MAX_REASON_LENGTH = 1_024
const MAX_ACTOR_LENGTH = 256
/** Longest timed override: ten years. Longer is "until cleared", which needs no duration. */
const MAX_OVERRIDE_MS = 10 * 365 * 24 * 60 * 60 * 1_000

/**
 * A circuit breaker whose state lives in a shared store, so that every Lambda execution
 * environment acts on one view of the downstream's health.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, MemoryStore, isCircuitOpenError } from '@fleet-breaker/core'
 *
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore(), failureThreshold: 3 })
 * try {
 *   const receipt = await breaker.execute((signal) => fetch('https://payments.example/charge', { method: 'POST', signal }))
 * } catch (error) {
 *   if (isCircuitOpenError(error)) console.log(`payments down, retry in ${error.retryAfterMs} ms`)
 * }
 * ```
 */
export class CircuitBreaker<TFallback = never> {
  // ---- the hot lane, read by every call: declared first, so it sits at the instance's start ----
  /**
   * Until when (milliseconds after {@link HOT_LANE_EPOCH}) a call without per-call options may take
   * the hot lane: run under the permit of the cached view without deciding anything. Open only
   * while the view is a trusted CLOSED one whose calls need no decision of their own (see
   * {@link #openHotLane}); {@link HOT_LANE_CLOSED} otherwise. The view and the local breaker close
   * it whenever they change, so a call reads only this instance and the clock: with thousands of
   * circuits, every other object a decision reads would be a cache miss.
   */
  #hotUntil = HOT_LANE_CLOSED
  /**
   * The clock the hot lane checks the view's trust against, kept here so it reads no options
   * object: with the default clock, one that shares readings between calls made back to back in
   * one turn of the event loop (see turn-clock.ts).
   */
  readonly #laneNow: () => number
  /** Whether a hot call takes a concurrency slot (`maxConcurrent` is finite). */
  #hotSlots = false
  /**
   * The permit of the open hot lane: what a hot call's outcome counts against. Each hot call binds
   * it to handlers of its own as it starts (see {@link #runHot}).
   */
  #hotPermit: PermitState | undefined
  /** Whether a hot call's success, as the lane stands, records nothing (see {@link #openHotLane}). */
  #hotSuccessEndsThere = false
  /** Tells a failed result from a value (`isFailureResult`), kept here so a hot call reads no options. */
  readonly #isFailureResult: (result: unknown) => boolean
  /** Deadlines of calls under `callTimeoutMs`, if set. */
  readonly #deadlines: DeadlineScheduler | undefined
  /**
   * A hot call's handlers under `callTimeoutMs`: the deadline scheduler hands them the call's
   * permit, which it keeps with the call anyway, so a call that returns a promise makes no
   * handlers (one that returns at once is chained through two small ones, see `chainSettled`).
   */
  readonly #hotOnValue: OnValue | undefined
  readonly #hotOnError: OnError | undefined
  /** Makes this breaker's call timeout error; bound once, handed to the shared deadline scheduler. */
  readonly #raiseTimeout = (): Error => this.#timeoutError()

  /** The circuit this breaker guards. */
  readonly circuitId: string
  readonly #options: ResolvedOptions
  readonly #fallback: Fallback<TFallback> | undefined
  readonly #view: CircuitView
  readonly #link: StoreLink
  readonly #decider: Decider
  /** Lets through, in shadow mode, the calls the decider would reject. */
  readonly #shadow: ShadowMode
  readonly #recorder: Recorder
  readonly #limiter: ConcurrencyLimiter
  readonly #local: LocalBreaker
  readonly #observers: ObserverHub
  /** Whether the options let calls take the hot lane at all: nothing to time but the call timeout. */
  readonly #plain: boolean

  constructor(options: CircuitBreakerOptions<TFallback>) {
    this.#options = resolveOptions(options)
    this.#fallback = options.fallback
    const resolved = this.#options
    this.#laneNow = hotLaneClock(resolved.now)
    this.#isFailureResult = resolved.isFailureResult
    this.circuitId = resolved.circuitId
    const { store, storeTimeoutMs, storeRetryIntervalMs, storeOutage, now, logger } = resolved
    this.#observers = new ObserverHub(this.circuitId, resolved.observers, now, logger)
    const guard = new StoreGuard({
      store,
      timeoutMs: storeTimeoutMs,
      retryIntervalMs: storeRetryIntervalMs,
      policy: storeOutage,
      now,
      logger,
      observers: this.#observers,
    })
    const closeHotLane = (): void => {
      this.#hotUntil = HOT_LANE_CLOSED
    }
    // Whatever answer brought a newer record (a read, a refused probe write, an operator's write,
    // `getState()`, a health check), the local breaker gives way if the circuit moved on since it opened.
    const viewChanged = (taken?: CircuitRecord): void => {
      closeHotLane()
      if (taken !== undefined) this.#local.learned(taken)
    }
    this.#view = new CircuitView(this.circuitId, resolved.cacheTtlMs, resolved.halfOpenMaxProbes, logger, viewChanged)
    this.#link = new StoreLink(this.circuitId, guard, this.#view, now)
    this.#local = new LocalBreaker(resolved, {
      opened: () => this.#observers.locallyOpened(),
      counting: closeHotLane,
    })
    if (this.#observers.wantsStateChanges) this.#view.subscribe((change) => this.#observers.stateChanged(change))
    const common = {
      options: resolved,
      view: this.#view,
      link: this.#link,
      local: this.#local,
      observers: this.#observers,
    }
    const parts = { ...common, policy: tripPolicyFor(common) }
    this.#decider = new Decider(parts)
    this.#shadow = new ShadowMode(resolved, this.#view, this.#observers)
    this.#recorder = new Recorder(parts)
    this.#limiter = new ConcurrencyLimiter(resolved.maxConcurrent, resolved.maxQueued, resolved.maxQueueWaitMs)
    const { callTimeoutMs } = resolved
    this.#deadlines = callTimeoutMs === undefined ? undefined : sharedDeadlineScheduler(callTimeoutMs)
    if (callTimeoutMs !== undefined) {
      this.#hotOnValue = (value, permit) => this.#hotValue(permit as PermitState, value)
      this.#hotOnError = (error, permit) => this.#hotError(permit as PermitState, error)
    }
    this.#plain = resolved.slowCallDurationMs === undefined
    this.#hotSlots = resolved.maxConcurrent !== Number.POSITIVE_INFINITY
  }

  /** The options in force, after environment variables and defaults. */
  get options(): ResolvedOptions {
    return this.#options
  }

  /**
   * Calls `fn` if the circuit lets it through and records the outcome.
   *
   * Resolves with `fn`'s value. Rejects with `fn`'s own error, untouched, or, when the call is not
   * made, with a {@link CircuitOpenError}, {@link ConcurrencyLimitError} or
   * {@link StoreUnavailableError}; with a {@link CallTimeoutError} when `callTimeoutMs` passes. When
   * a `fallback` is configured it replaces rejections and counted failures (see {@link Fallback}).
   *
   * @example
   * ```ts
   * const quote = await breaker.execute((signal) => pricing.getQuote(order, { abortSignal: signal }))
   * ```
   */
  execute<T>(fn: (signal: AbortSignal) => T | Promise<T>, options?: ExecuteOptions): Promise<T | TFallback> {
    // The common case: a trusted closed view, no per-call options. No decision, no async frame.
    const hotUntil = this.#hotUntil
    if (
      options === undefined &&
      hotUntil !== HOT_LANE_CLOSED &&
      hotUntil > this.#laneNow() - HOT_LANE_EPOCH &&
      (!this.#hotSlots || this.#limiter.tryTake())
    ) {
      return this.#runHot(fn) as Promise<T | TFallback>
    }
    let cached: Ruling | undefined
    try {
      cached = this.#decideFromCache(options?.signal)
    } catch (error) {
      return Promise.reject(error)
    }
    if (cached === undefined) return this.#execute(fn, options ?? NO_OPTIONS, undefined)
    if (!cached.admitted) {
      // Made here, the caller's own frame, so that recording its stack walks no frame of the decision.
      const error = new CircuitOpenError(cached.refusal)
      this.#observers.rejected(error)
      return this.#fallbackOr(error, 'rejected')
    }
    const permit = cached.permit
    if (options === undefined && permit === this.#hotPermit) {
      // The hot lane opened for this call's permit; an unlimited lane holds no slot.
      if (!this.#hotSlots) this.#limiter.release()
      return this.#runHot(fn) as Promise<T | TFallback>
    }
    return this.#execute(fn, options ?? NO_OPTIONS, permit)
  }

  async #execute<T>(
    fn: (signal: AbortSignal) => T | Promise<T>,
    options: ExecuteOptions,
    cached: PermitState | undefined,
  ): Promise<T | TFallback> {
    let permit = cached
    if (permit === undefined) {
      const decision = await this.#admitState(options)
      if (!decision.admitted) return this.#fallbackOr(decision.error, 'rejected')
      permit = decision.permit
    }
    let budgetMs: number | undefined
    try {
      budgetMs = this.#budgetMs(options)
    } catch (error) {
      // A deadline that is not a time, or a `lambdaContext` whose clock throws: the call is not
      // made, and its slot and any trial go back.
      this.#passTrialOn(permit)
      await this.#settle(permit, 'ignored')
      throw error
    }
    if (budgetMs !== undefined && budgetMs < 1) {
      // No time left to make the call at all: the invocation's end, not the downstream, stops it.
      this.#passTrialOn(permit)
      await this.#settle(permit, 'ignored')
      throw this.#timeoutError(0)
    }
    const { slowCallDurationMs } = this.#options
    const startedAt = slowCallDurationMs === undefined ? 0 : this.#options.now()
    const admitted = permit
    const { signal } = options
    // The outcome is recorded by the deadline's handlers, as on the hot lane, rather than after an
    // `await`: calls that settle together are then recorded in the order they started on every
    // path, and with consecutive counting the order decides whether a batch opens the circuit.
    // (Not in a `try`: what the handlers throw is the caller's, not an outcome to record again.)
    const onValue = (value: unknown): unknown => this.#recordValue(admitted, value, startedAt)
    const onError = (error: unknown): Promise<TFallback> => this.#recordError(admitted, error, startedAt, signal)
    if (signal !== undefined || budgetMs !== undefined) {
      const { callTimeoutMs } = this.#options
      const timeoutMs = budgetMs === undefined ? callTimeoutMs : Math.min(budgetMs, callTimeoutMs ?? budgetMs)
      const raise = (): Error => this.#timeoutError(timeoutMs)
      const call = callWithDeadline(fn, timeoutMs, signal ?? NEVER_ABORTED, raise, onValue, onError)
      return call as Promise<T | TFallback>
    }
    if (this.#deadlines !== undefined) {
      return this.#deadlines.run(fn, this.#raiseTimeout, onValue, onError) as Promise<T | TFallback>
    }
    return settleCall(fn, onValue, onError) as Promise<T | TFallback>
  }

  /** Records a call's value; the value once it is recorded. */
  #recordValue<T>(permit: PermitState, value: T, startedAt: number): T | Promise<T> {
    const slow = this.#isSlow(startedAt)
    // A success that took too long counts as a failure: a slow downstream exhausts the fleet too.
    const verdict = slow ? 'failure' : this.#classifyResult(value)
    return valueAfter(this.#settle(permit, verdict, slow), value) as T | Promise<T>
  }

  /** Records a call's error; the fallback's value for a counted failure, else the error, once it is recorded. */
  async #recordError(
    permit: PermitState,
    error: unknown,
    startedAt: number,
    signal: AbortSignal | undefined,
  ): Promise<TFallback> {
    const verdict = this.#classifyError(error, signal)
    if (verdict === 'ignored' && signal?.aborted !== true) this.#passTrialOn(permit)
    await this.#settle(permit, verdict, verdict === 'failure' && this.#isSlow(startedAt))
    if (verdict === 'failure') return this.#fallbackOr(error, 'failed')
    throw error
  }

  /** The time left for a call before the invocation's deadline, less the margin; none without one. */
  #budgetMs(options: ExecuteOptions): number | undefined {
    const { lambdaContext, deadline } = options
    if (lambdaContext === undefined && deadline === undefined) return undefined
    if (lambdaContext === undefined && (typeof deadline !== 'number' || Number.isNaN(deadline))) {
      throw new InvalidConfigurationError('deadline', deadline, 'a time in epoch milliseconds')
    }
    const remaining =
      lambdaContext === undefined
        ? (deadline as number) - this.#options.now()
        : lambdaContext.getRemainingTimeInMillis()
    if (typeof remaining !== 'number' || Number.isNaN(remaining)) {
      throw new InvalidConfigurationError(
        'lambdaContext.getRemainingTimeInMillis()',
        remaining,
        'a number of milliseconds',
      )
    }
    const budgetMs = Math.floor(remaining - this.#options.deadlineMarginMs)
    // Further away than a timer can count (about 24.8 days) is no deadline for a call: a longer
    // delay would make Node.js fire the timer at once, and the call would time out.
    return budgetMs > MAX_TIMER_DELAY_MS ? undefined : budgetMs
  }

  /** Whether a call that started at `startedAt` (0: not timed) succeeded too slowly to count as a success. */
  #isSlow(startedAt: number): boolean {
    const { slowCallDurationMs } = this.#options
    return slowCallDurationMs !== undefined && this.#options.now() - startedAt >= slowCallDurationMs
  }

  /**
   * Returns a function with the same parameters as `fn` that calls it through the breaker.
   * Use {@link execute} when the function should receive the call's `AbortSignal`.
   *
   * @example
   * ```ts
   * const charge = breaker.wrap(callPayment)
   * const receipt = await charge(order)
   * ```
   */
  wrap<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): (...args: A) => Promise<R | TFallback> {
    return (...args: A) => this.execute(() => fn(...args))
  }

  /**
   * Asks whether a call may be made now, without making it. The permit must then be settled with
   * the call's outcome. It makes the same decision as `execute()`, for adapters that cannot wrap
   * the call in one function, such as the Middy middleware.
   *
   * @example
   * ```ts
   * const admission = await breaker.admit()
   * if (!admission.admitted) return fallbackResponse(admission.error)
   * ```
   */
  async admit(options: ExecuteOptions = {}): Promise<Admission> {
    const cached = this.#decideFromCache(options.signal)
    if (cached !== undefined && !cached.admitted) {
      const error = new CircuitOpenError(cached.refusal)
      this.#observers.rejected(error)
      return { admitted: false, error }
    }
    if (cached !== undefined) return { admitted: true, permit: this.#permit(cached.permit) }
    const decision = await this.#admitState(options)
    return decision.admitted ? { admitted: true, permit: this.#permit(decision.permit) } : decision
  }

  /**
   * Makes a check outside live traffic (a scheduled health check) the circuit's probe, when the
   * circuit wants one: an OPEN circuit whose retry time has come, or a HALF_OPEN one with a free
   * slot. The permit holds a probe lease taken through the store exactly as a live probe's, so it
   * never races one and `halfOpenMaxProbes` holds; settle it like any permit (its success closes
   * the circuit, its failure reopens it with the usual backoff, `release()` gives the lease back).
   * It ignores `liveProbes` and never moves an open circuit's retry time. See `probe-now.ts`.
   *
   * @example
   * ```ts
   * const probe = await breaker.admitProbe()
   * if (probe.admitted) await ((await ping()) ? probe.permit.recordSuccess() : probe.permit.recordFailure())
   * ```
   */
  async admitProbe(options: { readonly signal?: AbortSignal } = {}): Promise<ProbeAdmission> {
    if (!this.#limiter.tryTake()) {
      const state = this.#view.latest?.state ?? CircuitState.CLOSED
      return { admitted: false, reason: ProbeSkipReason.CONCURRENCY_LIMIT, state, retryAfterMs: 0 }
    }
    const parts = { options: this.#options, view: this.#view, link: this.#link, decider: this.#decider }
    const decision = await decideProbeNow(parts, options.signal).catch((error: unknown) => {
      this.#limiter.release()
      throw error
    })
    if (!decision.admitted) this.#limiter.release()
    return decision.admitted ? { admitted: true, permit: this.#permit(decision.permit) } : decision
  }

  /**
   * Takes back a permit carried as JSON ({@link toPortablePermit}), possibly admitted by another
   * breaker of this circuit in another execution environment, to record its outcome here. Throws
   * `InvalidPermitError` when `portable` is not a permit of this circuit, `ConcurrencyLimitError`
   * when `maxConcurrent` calls are in flight.
   *
   * @example
   * ```ts
   * await breaker.resumePermit(input.permit).recordFailure()
   * ```
   */
  resumePermit(portable: unknown): CallPermit {
    const state = permitStateOf(parsePortablePermit(portable, this.circuitId))
    if (!this.#limiter.tryTake()) throw this.#concurrencyLimitError()
    return this.#permit(state)
  }

  /**
   * The circuit's state as the store has it now (or, if the store cannot be reached, as this
   * environment last saw it, with `source: 'cache'`).
   *
   * @example
   * ```ts
   * const { state, retryAfterMs } = await breaker.getState()
   * ```
   */
  async getState(): Promise<CircuitSnapshot> {
    const read = await this.#link.read()
    const now = this.#options.now()
    if (!read.ok) return toSnapshot(this.#view.latest ?? initialRecord(this.circuitId), now, 'cache', this.#options)
    return toSnapshot(read.value, now, 'store', this.#options)
  }

  /**
   * Calls `listener` on every change of the state callers experience. Returns the function that
   * unsubscribes it. A listener that throws is logged and never breaks a call.
   *
   * @example
   * ```ts
   * const unsubscribe = breaker.onStateChange((change) => logger.warn('circuit changed', { ...change }))
   * ```
   */
  onStateChange(listener: StateChangeListener): () => void {
    return this.#view.subscribe(listener)
  }

  /**
   * Forces the circuit open for the whole fleet: every call is rejected until the override is
   * cleared ({@link clearOverride} or {@link reset}) or lapses after `durationMs`. Every
   * environment follows within `cacheTtlMs`.
   *
   * @example
   * ```ts
   * await breaker.forceOpen({ reason: 'payment provider maintenance', durationMs: 30 * 60_000 })
   * ```
   */
  forceOpen(options: OverrideOptions = {}): Promise<CircuitSnapshot> {
    return this.#override(CircuitState.OPEN, options)
  }

  /**
   * Forces the circuit closed for the whole fleet: every call goes through and nothing is counted
   * until the override is cleared or lapses. Every environment follows within `cacheTtlMs`.
   *
   * @example
   * ```ts
   * await breaker.forceClose({ reason: 'false alarm, investigating', durationMs: 10 * 60_000 })
   * ```
   */
  forceClose(options: OverrideOptions = {}): Promise<CircuitSnapshot> {
    return this.#override(CircuitState.CLOSED, options)
  }

  /**
   * Removes a manual override; the automatic state, frozen while the override was in force,
   * applies again.
   *
   * @example
   * ```ts
   * await breaker.clearOverride()
   * ```
   */
  async clearOverride(options: Pick<OverrideOptions, 'actor' | 'reason'> = {}): Promise<CircuitSnapshot> {
    const note = checkNote(options)
    const record = await this.#link.setForced(undefined, this.#madeByOperator(TransitionReason.OVERRIDE_ENDED), note)
    return toSnapshot(record, this.#options.now(), 'store', this.#options)
  }

  /**
   * Puts the circuit back to a fresh CLOSED state for the whole fleet: counts, backoff and any
   * override are cleared. Every environment follows within `cacheTtlMs`.
   *
   * @example
   * ```ts
   * await breaker.reset()
   * ```
   */
  async reset(options: Pick<OverrideOptions, 'actor' | 'reason'> = {}): Promise<CircuitSnapshot> {
    const note = checkNote(options)
    const record = await this.#link.reset(this.#madeByOperator(TransitionReason.RESET), note)
    return toSnapshot(record, this.#options.now(), 'store', this.#options)
  }

  async #override(state: ForcedStateName, options: OverrideOptions): Promise<CircuitSnapshot> {
    const forced = checkOverride(state, options)
    const reason = state === CircuitState.OPEN ? TransitionReason.FORCED_OPEN : TransitionReason.FORCED_CLOSED
    const record = await this.#link.setForced(forced, this.#madeByOperator(reason))
    return toSnapshot(record, this.#options.now(), 'store', this.#options)
  }

  #madeByOperator(reason: TransitionReason) {
    const latest = this.#view.latest
    const from = latest === undefined ? CircuitState.CLOSED : effectiveState(latest, this.#options.now())
    return { reason, from }
  }

  // ---- deciding -------------------------------------------------------------------------------

  /**
   * Decides a call without waiting when the cached view alone can: admits it when the view is a
   * fresh CLOSED or forced-closed one and a concurrency slot is free (opening the hot lane for the
   * calls that follow when the view allows it), refuses it when a fresh view rejects it (the caller
   * makes the error and tells the observers of it, as of every rejection). `undefined` when the decision
   * needs more: a store read, a write to contend for, a ramp, shadow mode, or a slot to wait for.
   */
  #decideFromCache(signal: AbortSignal | undefined): Ruling | undefined {
    const now = this.#options.now()
    const record = this.#view.fresh(now)
    if (record === undefined) return undefined
    // Only a closed circuit without an override asks the ramp and the local breaker.
    const asksLocal = record.state === CircuitState.CLOSED && activeOverride(record, now) === undefined
    // A ramp decides a closed circuit's calls one by one, once: in the full decision.
    if (asksLocal && this.#decider.isRamping(record, now)) return undefined
    // The local breaker's trial goes to the first call that asks: only to one sure of a slot.
    const slotFirst = asksLocal && this.#local.trialDue(now)
    if (slotFirst && !this.#limiter.tryTake()) return undefined
    const evaluation = this.#decider.evaluate(record, now, signal)
    if (!('admitted' in evaluation) || (!evaluation.admitted && this.#shadow.letsThrough(evaluation.refusal, now))) {
      // A write to contend for, or a rejection shadow mode lets through: the full decision (which
      // reports the call once) decides it again, with the local breaker's trial if this was given it.
      if ('contend' in evaluation) this.#local.giveBack(evaluation.trial ?? 0)
      if (slotFirst) this.#limiter.release()
      return undefined
    }
    if (!evaluation.admitted) {
      // No slot is kept or waited for: an open circuit answers at once, however busy the breaker.
      if (slotFirst) this.#limiter.release()
      return evaluation
    }
    if (!slotFirst && !this.#limiter.tryTake()) return undefined
    if (signal === undefined) this.#openHotLane(record, evaluation.permit)
    return evaluation
  }

  /**
   * Lets the calls that follow share `permit` without a decision of their own, until the view
   * changes or stops being trusted, when nothing else would decide them: no ramp, a local breaker
   * that counts nothing (its count is reset by a success, so it must see every call), and no
   * timing of slow calls. A permit of a closed circuit carries nothing of its own but the
   * generation its failures count against, which the handlers are bound to.
   */
  #openHotLane(record: CircuitRecord, permit: PermitState): void {
    if (!this.#plain || permit.mode === PermitMode.PROBE || !this.#local.idle) return
    const { failureRateThreshold, slowCallRateThreshold } = this.#options
    // A success in a closed circuit with no failures counted (and no rate to count it in) records
    // nothing; with no slot to give back either, a successful call ends with its value.
    const countsRate = failureRateThreshold !== undefined || slowCallRateThreshold !== undefined
    const successWritesNothing =
      permit.mode === PermitMode.UNCOUNTED ||
      (record.state === CircuitState.CLOSED && record.failures === 0 && !countsRate)
    this.#hotSuccessEndsThere = successWritesNothing && !this.#hotSlots
    this.#hotPermit = permit
    this.#hotUntil = hotLaneTime(this.#view.trustedUntil)
  }

  /**
   * Runs a call on the hot lane; its outcome goes through handlers given the permit it started
   * under. Under a call timeout, the deadline scheduler keeps the permit with the call and hands it
   * to the breaker's one pair of handlers; without one, see {@link #settleHot}.
   */
  #runHot(fn: (signal: AbortSignal) => unknown): Promise<unknown> {
    const permit = this.#hotPermit as PermitState
    const deadlines = this.#deadlines
    // The scheduler applies the handlers as the call settles: no second promise per call.
    if (deadlines !== undefined)
      return deadlines.run(fn, this.#raiseTimeout, this.#hotOnValue, this.#hotOnError, permit)
    return this.#settleHot(fn, permit)
  }

  /**
   * Runs a hot call without a call timeout, through handlers made for it, bound to its permit. Made
   * for each call rather than kept for the lane: new, they are in the CPU's caches, where handlers
   * kept with each of thousands of circuits would each be read from memory, and a call then reads
   * nothing of its circuit but the breaker itself. (A method of its own, so that a call under a
   * timeout does not allocate the scope these handlers share.)
   */
  #settleHot(fn: (signal: AbortSignal) => unknown, permit: PermitState): Promise<unknown> {
    const onValue = (value: unknown): unknown => this.#hotValue(permit, value)
    const onError = (error: unknown): Promise<TFallback> => this.#hotError(permit, error)
    // Settled on the same ticks as under a deadline, so calls are recorded in the order they started.
    return settleCall(fn, onValue, onError)
  }

  /** Records a hot call's value, if there is anything to record; the value once it is recorded. */
  #hotValue(permit: PermitState, value: unknown): unknown {
    const verdict = this.#classifyResult(value)
    // Whether a success still has nothing to record is known only when it settles: a call that
    // was running when a failure was counted (here or by another environment, as the view shows)
    // must clear it. The lane closes on every such change, so while it is still open under this
    // call's permit, nothing has changed since the call started.
    if (
      verdict === 'success' &&
      this.#hotSuccessEndsThere &&
      this.#hotUntil !== HOT_LANE_CLOSED &&
      this.#hotPermit === permit
    ) {
      return value
    }
    return valueAfter(this.#settle(permit, verdict, false, this.#hotSlots), value)
  }

  /** Records a hot call's error; the fallback's value for a counted failure, else the error, once it is recorded. */
  async #hotError(permit: PermitState, error: unknown): Promise<TFallback> {
    const verdict = this.#classifyError(error, undefined)
    await this.#settle(permit, verdict, false, this.#hotSlots)
    if (verdict === 'failure') return this.#fallbackOr(error, 'failed')
    throw error
  }

  /** The full decision: a concurrency slot (waiting in the queue if need be), then the circuit. */
  async #admitState(options: ExecuteOptions): Promise<Decision> {
    if (!this.#limiter.tryTake()) {
      if (!this.#limiter.canQueue()) return { admitted: false, error: this.#concurrencyLimitError() }
      options.signal?.throwIfAborted()
      const granted = await this.#limiter.wait(options.signal)
      if (!granted) return { admitted: false, error: this.#concurrencyLimitError() }
    }
    let decision: Decision
    try {
      decision = this.#shadow.review(await this.#decider.decide(options.signal), options.signal)
    } catch (error) {
      this.#limiter.release()
      throw error
    }
    if (!decision.admitted) this.#limiter.release()
    if (!decision.admitted) this.#observers.rejected(decision.error)
    return decision
  }

  #concurrencyLimitError(): ConcurrencyLimitError {
    const { maxConcurrent, maxQueued } = this.#options
    const error = new ConcurrencyLimitError({ circuitId: this.circuitId, maxConcurrent, maxQueued })
    this.#observers.rejected(error)
    return error
  }

  // ---- recording ------------------------------------------------------------------------------

  /** Wraps a permit for adapters: its outcome is recorded once, whatever is called. */
  #permit(state: PermitState): CallPermit {
    const startedAt = this.#options.slowCallDurationMs === undefined ? 0 : this.#options.now()
    let settled = false
    const settle = async (outcome: Verdict, notMade = false): Promise<Verdict> => {
      if (settled) return 'ignored'
      settled = true
      if (notMade) this.#passTrialOn(state)
      const slow = outcome !== 'ignored' && this.#isSlow(startedAt)
      const verdict = slow ? 'failure' : outcome
      await this.#settle(state, verdict, slow)
      return verdict
    }
    const permit: CallPermit & { readonly [PERMIT_STATE]: PermitHandle } = {
      // For toPortablePermit(): the permit leaves this instance, which frees its slot and records nothing.
      [PERMIT_STATE]: {
        state,
        handOff: () => {
          if (settled) return false
          settled = true
          this.#limiter.release()
          return true
        },
      },
      circuitId: this.circuitId,
      isProbe: state.mode === PermitMode.PROBE,
      recordResult: (result) => settle(this.#classifyResult(result)),
      recordError: (error) => {
        const verdict = this.#classifyError(error, state.signal)
        return settle(verdict, verdict === 'ignored' && state.signal?.aborted !== true)
      },
      recordSuccess: () => settle('success'),
      recordFailure: () => settle('failure'),
      release: async () => {
        await settle('ignored', true)
      },
    }
    return permit
  }

  /**
   * Hands the local breaker's trial `permit` holds, if any, to the next call: this one was not
   * made, or ended with an error that does not count, so it told nothing of the downstream and is
   * no longer running. (A call its caller gave up on keeps it: the call may still be running.)
   */
  #passTrialOn(permit: PermitState): void {
    if (permit.localTrial) this.#local.giveBack(permit.localTrial)
  }

  /**
   * Records an outcome and gives the concurrency slot back. Returns `undefined`, having done
   * everything synchronously, when there is nothing to write: the healthy path costs no promise.
   */
  #settle(permit: PermitState, verdict: Verdict, slow = false, holdsSlot = true): Promise<void> | undefined {
    const recording = this.#recorder.record(permit, verdict, slow)
    if (recording === undefined) {
      if (holdsSlot) this.#limiter.release()
      return undefined
    }
    return holdsSlot ? recording.finally(() => this.#limiter.release()) : recording
  }

  #classifyResult(result: unknown): Verdict {
    try {
      return this.#isFailureResult(result) === true ? 'failure' : 'success'
    } catch (error) {
      this.#classifierFailed('isFailureResult', error)
      return 'success'
    }
  }

  /**
   * Whether this breaker counts `error` as a failure of the downstream: its own call timeouts
   * always, anything else as `isFailure` says. Useful to decide what to do next with an error
   * `execute()` passed through, as the failover helper does.
   *
   * @example
   * ```ts
   * catch (error) { if (!breaker.countsAsFailure(error)) throw error } // a 4xx: trying elsewhere won't help
   * ```
   */
  countsAsFailure(error: unknown): boolean {
    if (isCallTimeoutError(error) && error.circuitId === this.circuitId) return true
    try {
      return this.#options.isFailure(error) === true
    } catch (classifierError) {
      this.#classifierFailed('isFailure', classifierError)
      return false
    }
  }

  #classifyError(error: unknown, signal: AbortSignal | undefined): Verdict {
    // The caller gave up (its own signal, or an outer breaker's deadline aborting it): that says
    // nothing about this downstream. Only a deadline this breaker raised itself counts then.
    if (
      signal?.aborted === true &&
      !(typeof error === 'object' && error !== null && timeoutRaisers.get(error) === this)
    ) {
      return 'ignored'
    }
    return this.countsAsFailure(error) ? 'failure' : 'ignored'
  }

  /** A user classifier that throws counts its outcome as "not a failure"; the bug is logged. */
  #classifierFailed(name: string, error: unknown): void {
    this.#options.logger.error(`fleet-breaker: the ${name} classifier threw; the outcome is not counted`, {
      circuitId: this.circuitId,
      error,
    })
  }

  // ---- small helpers ----------------------------------------------------------------------------

  #timeoutError(timeoutMs = this.#options.callTimeoutMs ?? 0): CallTimeoutError {
    const error = new CallTimeoutError({ circuitId: this.circuitId, timeoutMs })
    timeoutRaisers.set(error, this)
    return error
  }

  #fallbackOr(error: unknown, kind: FallbackKind): Promise<TFallback> {
    const fallback = this.#fallback
    // Not an async function: a rejection without a fallback (every call while a circuit is open)
    // then costs one rejected promise and nothing more.
    if (fallback === undefined) return Promise.reject(error)
    try {
      return Promise.resolve(fallback(error, { circuitId: this.circuitId, kind }))
    } catch (thrown) {
      return Promise.reject(thrown)
    }
  }
}

/**
 * The hot lane's times are kept relative to this moment, so that for the first twelve days of a
 * process they are small integers, which V8 stores in the instance itself: an epoch time would be a
 * double, boxed in an object of its own, one more memory read (a cache miss with thousands of
 * circuits) for every call. Later times, or an injected clock far from the real one, still work,
 * boxed.
 */
const HOT_LANE_EPOCH = Date.now()
/** `#hotUntil` of a closed hot lane. */
const HOT_LANE_CLOSED = 0
/** The longest delay a Node.js timer takes (2³¹ − 1 ms); a longer one fires at once. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1
/** The small integers V8 keeps in an instance (31 bits with pointer compression, signed). */
const SMALL_INTEGER = 2 ** 30

/**
 * `until` (epoch milliseconds) as a hot lane time: relative to {@link HOT_LANE_EPOCH}, rounded down
 * (the lane closes no later than the view's trust ends), a small integer where it can be. Exactly
 * {@link HOT_LANE_CLOSED} by chance only keeps the lane shut: calls then decide, as they may.
 */
function hotLaneTime(until: number): number {
  const time = Math.floor(until - HOT_LANE_EPOCH)
  return time > -SMALL_INTEGER && time < SMALL_INTEGER ? time | 0 : time
}

/** `value`, once `recording` (if any) is done. */
function valueAfter(recording: Promise<void> | undefined, value: unknown): unknown {
  return recording === undefined ? value : recording.then(() => value)
}

/** The actor and reason of an operator's action, checked. */
function checkNote(options: Pick<OverrideOptions, 'actor' | 'reason'>): OperatorNote {
  const { actor, reason } = options
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
    throw new InvalidConfigurationError('reason', reason, `a string of at most ${MAX_REASON_LENGTH} characters`)
  }
  if (actor !== undefined && (typeof actor !== 'string' || actor.trim() === '' || actor.length > MAX_ACTOR_LENGTH)) {
    throw new InvalidConfigurationError('actor', actor, `a non-blank string of at most ${MAX_ACTOR_LENGTH} characters`)
  }
  return { ...(actor === undefined ? {} : { actor }), ...(reason === undefined ? {} : { reason }) }
}

function checkOverride(state: ForcedStateName, options: OverrideOptions): OverrideRequest {
  const { reason, durationMs } = options
  const { actor } = checkNote(options)
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
    throw new InvalidConfigurationError('reason', reason, `a string of at most ${MAX_REASON_LENGTH} characters`)
  }
  if (durationMs !== undefined && (!Number.isInteger(durationMs) || durationMs < 1 || durationMs > MAX_OVERRIDE_MS)) {
    throw new InvalidConfigurationError('durationMs', durationMs, `an integer from 1 to ${MAX_OVERRIDE_MS} (ten years)`)
  }
  return {
    state,
    ...(reason === undefined ? {} : { reason }),
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(actor === undefined ? {} : { actor }),
  }
}
