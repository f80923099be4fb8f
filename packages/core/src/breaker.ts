import { randomUUID } from 'node:crypto'
import { retryDelayMs } from './backoff.js'
import { StateCache } from './cache.js'
import { callWithDeadline, DeadlineScheduler, NEVER_ABORTED } from './call-deadline.js'
import {
  CallTimeoutError,
  type CircuitBreakerError,
  CircuitOpenError,
  ConcurrencyLimitError,
  InvalidConfigurationError,
  isCallTimeoutError,
  RejectionReason,
  StoreUnavailableError,
} from './errors.js'
import { inferReason, StateChangeEmitter, type StateChangeListener, TransitionReason } from './events.js'
import { ConcurrencyLimiter } from './limiter.js'
import {
  type CircuitBreakerOptions,
  type Fallback,
  type FallbackKind,
  type ResolvedOptions,
  resolveOptions,
  StoreOutagePolicy,
} from './options.js'
import { type CircuitSnapshot, toSnapshot } from './snapshot.js'
import {
  activeOverride,
  type CircuitRecord,
  CircuitState,
  effectiveState,
  type ForcedStateName,
  initialRecord,
  liveProbes,
} from './state.js'
import type { OverrideRequest, TransitionGuard, TransitionOutcome, TransitionTarget } from './store/contract.js'
import { freeProbeSlot } from './store/semantics.js'
import { type GuardedResult, StoreGuard } from './store-guard.js'

/** Options of a single {@link CircuitBreaker.execute} call. */
export interface ExecuteOptions {
  /**
   * The caller's own cancellation (for example a deadline derived from the Lambda context's
   * remaining time). It is passed on to the function; a call the caller cancels is not counted.
   */
  readonly signal?: AbortSignal
}

/** How an outcome counted: as a success, as a failure, or not at all. */
export type Verdict = 'success' | 'failure' | 'ignored'

/**
 * Permission to make one call, for adapters that cannot wrap the call in a function (a Middy
 * middleware checks in `before` and records in `after` / `onError`). Record exactly one outcome;
 * later ones are ignored. A permit that is never settled keeps its concurrency slot, and a probe's
 * lease lapses on its own after `probeLeaseMs`.
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

/** Options of the manual controls. */
export interface OverrideOptions {
  /** Shown to operators in errors, events and logs. */
  readonly reason?: string
  /** Lapses on its own after this many milliseconds; absent: until cleared. */
  readonly durationMs?: number
}

/** How a permit's outcome is recorded. */
const PermitMode = {
  /** A call in CLOSED: failures are counted against its generation. */
  COUNTED: 'counted',
  /** A half-open probe holding a lease. */
  PROBE: 'probe',
  /** Nothing is recorded (forced closed). */
  UNCOUNTED: 'uncounted',
} as const
type PermitMode = (typeof PermitMode)[keyof typeof PermitMode]

/** Everything about one admitted call, kept with the call rather than on the breaker. */
interface PermitState {
  readonly mode: PermitMode
  readonly generation: number
  readonly openCount: number
  readonly token: string
  readonly signal: AbortSignal | undefined
}

type Decision =
  | { readonly admitted: true; readonly permit: PermitState }
  | { readonly admitted: false; readonly error: CircuitBreakerError }

/** A step of the decision: final, or a store write to contend for (a half-open entry or a probe slot). */
type Evaluation = Decision | { readonly contend: 'enter-half-open' | 'acquire-probe'; readonly record: CircuitRecord }

const MAX_CONTENTION_ROUNDS = 3
const MAX_REASON_LENGTH = 1_024

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
  /** The circuit this breaker guards. */
  readonly circuitId: string
  readonly #options: ResolvedOptions
  readonly #fallback: Fallback<TFallback> | undefined
  readonly #guard: StoreGuard
  readonly #cache: StateCache
  readonly #events: StateChangeEmitter
  readonly #limiter: ConcurrencyLimiter
  /** Deadlines of calls under `callTimeoutMs`, if set. */
  readonly #deadlines: DeadlineScheduler | undefined
  /** The permit of the cached view's admissions, while that view is unchanged (the hot path). */
  #reusable: { readonly record: CircuitRecord; readonly permit: PermitState } | undefined
  /** The state callers experienced when this instance last looked, for telling observed changes. */
  #known: { readonly state: CircuitState; readonly generation: number; readonly forced: boolean } | undefined

  constructor(options: CircuitBreakerOptions<TFallback>) {
    this.#options = resolveOptions(options)
    this.#fallback = options.fallback
    this.circuitId = this.#options.circuitId
    const { store, storeTimeoutMs, storeRetryIntervalMs, storeOutage, now, logger } = this.#options
    this.#guard = new StoreGuard({
      store,
      timeoutMs: storeTimeoutMs,
      retryIntervalMs: storeRetryIntervalMs,
      policy: storeOutage,
      now,
      logger,
    })
    this.#cache = new StateCache(this.#options.cacheTtlMs, this.#options.halfOpenMaxProbes)
    this.#events = new StateChangeEmitter(logger)
    this.#limiter = new ConcurrencyLimiter(this.#options.maxConcurrent, this.#options.maxQueued)
    const { callTimeoutMs } = this.#options
    this.#deadlines =
      callTimeoutMs === undefined ? undefined : new DeadlineScheduler(callTimeoutMs, () => this.#timeoutError())
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
  async execute<T>(fn: (signal: AbortSignal) => T | Promise<T>, options: ExecuteOptions = {}): Promise<T | TFallback> {
    // The common case, a closed circuit in a fresh cache with a free slot, decides synchronously.
    let permit = this.#admitFromCache(options.signal)
    if (permit === undefined) {
      const decision = await this.#admitState(options)
      if (!decision.admitted) return this.#fallbackOr(decision.error, 'rejected')
      permit = decision.permit
    }
    let value: T
    try {
      if (options.signal !== undefined) {
        value = await callWithDeadline(fn, this.#options.callTimeoutMs, options.signal, () => this.#timeoutError())
      } else if (this.#deadlines !== undefined) {
        value = await this.#deadlines.run(fn)
      } else {
        value = await fn(NEVER_ABORTED)
      }
    } catch (error) {
      const verdict = this.#classifyError(error, options.signal)
      await this.#settle(permit, verdict)
      if (verdict === 'failure') return this.#fallbackOr(error, 'failed')
      throw error
    }
    const recording = this.#settle(permit, this.#classifyResult(value))
    if (recording !== undefined) await recording
    return value
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
    const permit = this.#admitFromCache(options.signal)
    if (permit !== undefined) return { admitted: true, permit: this.#permit(permit) }
    const decision = await this.#admitState(options)
    return decision.admitted ? { admitted: true, permit: this.#permit(decision.permit) } : decision
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
    const now = this.#options.now()
    const read = await this.#guard.call('get', this.circuitId, (store, options) =>
      store.get(this.circuitId, { ...options, now }),
    )
    if (!read.ok) return toSnapshot(this.#cache.latest ?? initialRecord(this.circuitId), now, 'cache', this.#options)
    const record = read.value ?? initialRecord(this.circuitId)
    this.#learn(record, now, { fromRead: true })
    return toSnapshot(record, now, 'store', this.#options)
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
    return this.#events.subscribe(listener)
  }

  /**
   * Forces the circuit open for the whole fleet: every call is rejected until the override is
   * cleared ({@link clearOverride} or {@link reset}) or lapses after `durationMs`.
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
   * until the override is cleared or lapses.
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
  async clearOverride(): Promise<CircuitSnapshot> {
    const now = this.#options.now()
    const record = await this.#guard.callOrThrow('setForced', this.circuitId, (store, options) =>
      store.setForced(this.circuitId, { opId: randomUUID(), now }, options),
    )
    this.#learn(record, now, { reason: TransitionReason.OVERRIDE_ENDED })
    return toSnapshot(record, now, 'store', this.#options)
  }

  /**
   * Puts the circuit back to a fresh CLOSED state for the whole fleet: counts, backoff and any
   * override are cleared.
   *
   * @example
   * ```ts
   * await breaker.reset()
   * ```
   */
  async reset(): Promise<CircuitSnapshot> {
    const now = this.#options.now()
    const record = await this.#guard.callOrThrow('reset', this.circuitId, (store, options) =>
      store.reset(this.circuitId, { opId: randomUUID(), now }, options),
    )
    this.#learn(record, now, { reason: TransitionReason.RESET })
    return toSnapshot(record, now, 'store', this.#options)
  }

  async #override(state: ForcedStateName, options: OverrideOptions): Promise<CircuitSnapshot> {
    const forced = checkOverride(state, options)
    const now = this.#options.now()
    const record = await this.#guard.callOrThrow('setForced', this.circuitId, (store, callOptions) =>
      store.setForced(this.circuitId, { opId: randomUUID(), forced, now }, callOptions),
    )
    const reason = state === CircuitState.OPEN ? TransitionReason.FORCED_OPEN : TransitionReason.FORCED_CLOSED
    this.#learn(record, now, { reason })
    return toSnapshot(record, now, 'store', this.#options)
  }

  // ---- deciding -------------------------------------------------------------------------------

  /**
   * Admits a call without waiting when the cached view alone allows it (a fresh CLOSED or
   * forced-closed view) and a concurrency slot is free; `undefined` when the decision needs more.
   */
  #admitFromCache(signal: AbortSignal | undefined): PermitState | undefined {
    const now = this.#options.now()
    const record = this.#cache.fresh(now)
    if (record === undefined) return undefined
    let permit: PermitState
    if (signal === undefined && this.#reusable?.record === record) {
      permit = this.#reusable.permit
    } else {
      const evaluation = this.#evaluate(record, now, signal)
      if (!('admitted' in evaluation) || !evaluation.admitted) return undefined
      permit = evaluation.permit
      // A permit of a closed circuit carries nothing of its own: calls share it until the view changes.
      if (signal === undefined && permit.mode !== PermitMode.PROBE) this.#reusable = { record, permit }
    }
    return this.#limiter.tryTake() ? permit : undefined
  }

  /** The full decision: a concurrency slot (waiting in the queue if need be), then the circuit. */
  async #admitState(options: ExecuteOptions): Promise<Decision> {
    if (!this.#limiter.tryTake()) {
      if (!this.#limiter.canQueue()) {
        const { maxConcurrent, maxQueued } = this.#options
        return {
          admitted: false,
          error: new ConcurrencyLimitError({ circuitId: this.circuitId, maxConcurrent, maxQueued }),
        }
      }
      options.signal?.throwIfAborted()
      await this.#limiter.wait(options.signal)
    }
    let decision: Decision
    try {
      decision = await this.#decide(options.signal)
    } catch (error) {
      this.#limiter.release()
      throw error
    }
    if (!decision.admitted) this.#limiter.release()
    return decision
  }

  async #decide(signal: AbortSignal | undefined): Promise<Decision> {
    const now = this.#options.now()
    let record = this.#cache.fresh(now) ?? this.#cache.dueForProbe(now)
    if (record === undefined) {
      const read = await this.#guard.call('get', this.circuitId, (store, options) =>
        store.get(this.circuitId, { ...options, now }),
      )
      if (!read.ok) return this.#storeUnavailable(read.error, signal)
      record = read.value ?? initialRecord(this.circuitId)
      this.#learn(record, now, { fromRead: true })
    }
    for (let round = 0; round < MAX_CONTENTION_ROUNDS; round++) {
      const evaluation = this.#evaluate(record, now, signal)
      if (!('contend' in evaluation)) return evaluation
      const outcome =
        evaluation.contend === 'enter-half-open'
          ? await this.#enterHalfOpen(evaluation.record, signal)
          : await this.#acquireProbe(evaluation.record, signal)
      if ('admitted' in outcome) return outcome
      record = outcome
    }
    return this.#reject(record, now)
  }

  /** Decides from a record alone, or says which store write the decision depends on. */
  #evaluate(record: CircuitRecord, now: number, signal: AbortSignal | undefined): Evaluation {
    const forced = activeOverride(record, now)
    if (forced?.state === CircuitState.CLOSED) return this.#admitted(PermitMode.UNCOUNTED, record, signal)
    if (forced !== undefined) return this.#reject(record, now)
    switch (record.state) {
      case CircuitState.CLOSED:
        return this.#admitted(PermitMode.COUNTED, record, signal)
      case CircuitState.OPEN:
        return record.retryAt > now ? this.#reject(record, now) : { contend: 'enter-half-open', record }
      case CircuitState.HALF_OPEN:
        return freeProbeSlot(record, this.#options.halfOpenMaxProbes, now) === undefined
          ? this.#reject(record, now)
          : { contend: 'acquire-probe', record }
    }
  }

  /** Contends for the OPEN → HALF_OPEN transition; the winner holds the first probe lease. */
  async #enterHalfOpen(record: CircuitRecord, signal: AbortSignal | undefined): Promise<Decision | CircuitRecord> {
    const token = randomUUID()
    const target: TransitionTarget = {
      state: CircuitState.HALF_OPEN,
      probe: { token, leaseMs: this.#options.probeLeaseMs },
    }
    const result = await this.#transition(record, target, { retryDue: true }, TransitionReason.RETRY_DUE)
    if (!result.ok) return this.#storeUnavailable(result.error, signal)
    if (!result.value.applied) return result.value.record
    return this.#admittedProbe(result.value.record, token, signal)
  }

  /** Contends for a free probe slot of a half-open circuit. */
  async #acquireProbe(record: CircuitRecord, signal: AbortSignal | undefined): Promise<Decision | CircuitRecord> {
    const token = randomUUID()
    const now = this.#options.now()
    const { halfOpenMaxProbes: maxProbes, probeLeaseMs: leaseMs } = this.#options
    const result = await this.#guard.call('acquireProbe', this.circuitId, (store, options) =>
      store.acquireProbe(
        this.circuitId,
        { opId: token, generation: record.generation, maxProbes, token, leaseMs, now },
        options,
      ),
    )
    if (!result.ok) return this.#storeUnavailable(result.error, signal)
    this.#learn(result.value.record, now)
    if (result.value.lease !== undefined) return this.#admittedProbe(result.value.record, token, signal)
    const current = result.value.record
    const sameHalfOpen = current.state === CircuitState.HALF_OPEN && current.generation === record.generation
    return sameHalfOpen ? this.#reject(current, now) : current
  }

  #admitted(mode: PermitMode, record: CircuitRecord, signal: AbortSignal | undefined): Decision {
    return {
      admitted: true,
      permit: { mode, generation: record.generation, openCount: record.openCount, token: '', signal },
    }
  }

  #admittedProbe(record: CircuitRecord, token: string, signal: AbortSignal | undefined): Decision {
    return {
      admitted: true,
      permit: { mode: PermitMode.PROBE, generation: record.generation, openCount: record.openCount, token, signal },
    }
  }

  /** The rejection a record calls for at `now`. */
  #reject(record: CircuitRecord, now: number): Decision {
    const forced = activeOverride(record, now)
    const base = { circuitId: this.circuitId, state: effectiveState(record, now) }
    if (forced !== undefined) {
      const retryAfterMs = forced.until === undefined ? this.#options.resetTimeoutMs : forced.until - now
      const details = { ...base, reason: RejectionReason.FORCED_OPEN, retryAfterMs }
      return {
        admitted: false,
        error: new CircuitOpenError(
          forced.reason === undefined ? details : { ...details, forcedReason: forced.reason },
        ),
      }
    }
    if (record.state === CircuitState.OPEN) {
      const retryAfterMs = Math.max(0, record.retryAt - now)
      return { admitted: false, error: new CircuitOpenError({ ...base, reason: RejectionReason.OPEN, retryAfterMs }) }
    }
    const leases = record.state === CircuitState.HALF_OPEN ? liveProbes(record, now) : []
    const firstExpiry = leases.length === 0 ? now : Math.min(...leases.map((lease) => lease.expiresAt))
    const retryAfterMs = Math.max(0, firstExpiry - now)
    return {
      admitted: false,
      error: new CircuitOpenError({ ...base, reason: RejectionReason.PROBES_BUSY, retryAfterMs }),
    }
  }

  /** The outage policy: let the call through, or reject it. */
  #storeUnavailable(cause: unknown, signal: AbortSignal | undefined): Decision {
    if (this.#options.storeOutage === StoreOutagePolicy.FAIL_CLOSED) {
      return { admitted: false, error: new StoreUnavailableError({ circuitId: this.circuitId, cause }) }
    }
    return this.#admitted(PermitMode.COUNTED, this.#cache.latest ?? initialRecord(this.circuitId), signal)
  }

  // ---- recording ------------------------------------------------------------------------------

  /** Wraps a permit for adapters: its outcome is recorded once, whatever is called. */
  #permit(state: PermitState): CallPermit {
    let settled = false
    const settle = async (verdict: Verdict): Promise<Verdict> => {
      if (settled) return 'ignored'
      settled = true
      await this.#settle(state, verdict)
      return verdict
    }
    return {
      circuitId: this.circuitId,
      isProbe: state.mode === PermitMode.PROBE,
      recordResult: (result) => settle(this.#classifyResult(result)),
      recordError: (error) => settle(this.#classifyError(error, state.signal)),
      recordSuccess: () => settle('success'),
      recordFailure: () => settle('failure'),
      release: async () => {
        await settle('ignored')
      },
    }
  }

  /**
   * Records an outcome and gives the concurrency slot back. Returns `undefined`, having done
   * everything synchronously, when there is nothing to write: the healthy path costs no promise.
   */
  #settle(permit: PermitState, verdict: Verdict): Promise<void> | undefined {
    if (!this.#needsWrite(permit, verdict)) {
      this.#limiter.release()
      return undefined
    }
    return this.#record(permit, verdict).finally(() => this.#limiter.release())
  }

  /** Whether recording `verdict` takes a store write; a success in CLOSED with nothing to clear does not. */
  #needsWrite(permit: PermitState, verdict: Verdict): boolean {
    switch (permit.mode) {
      case PermitMode.UNCOUNTED:
        return false
      case PermitMode.PROBE:
        return true
      case PermitMode.COUNTED: {
        if (verdict === 'failure') return true
        if (verdict === 'ignored') return false
        const latest = this.#cache.latest
        return latest?.state === CircuitState.CLOSED && latest.generation === permit.generation && latest.failures > 0
      }
    }
  }

  #classifyResult(result: unknown): Verdict {
    try {
      return this.#options.isFailureResult(result) === true ? 'failure' : 'success'
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
    // The caller gave up; that says nothing about the downstream.
    if (signal?.aborted === true && !isCallTimeoutError(error)) return 'ignored'
    return this.countsAsFailure(error) ? 'failure' : 'ignored'
  }

  /** A user classifier that throws counts its outcome as "not a failure"; the bug is logged. */
  #classifierFailed(name: string, error: unknown): void {
    this.#options.logger.error(`fleet-breaker: the ${name} classifier threw; the outcome is not counted`, {
      circuitId: this.circuitId,
      error,
    })
  }

  async #record(permit: PermitState, verdict: Verdict): Promise<void> {
    switch (permit.mode) {
      case PermitMode.UNCOUNTED:
        return
      case PermitMode.PROBE:
        return this.#recordProbe(permit, verdict)
      case PermitMode.COUNTED:
        if (verdict === 'failure') return this.#recordFailure(permit)
        if (verdict === 'success') return this.#recordSuccess(permit)
    }
  }

  async #recordFailure(permit: PermitState): Promise<void> {
    const now = this.#options.now()
    const request = { opId: randomUUID(), generation: permit.generation, now, windowMs: this.#options.failureWindowMs }
    const result = await this.#guard.call('addFailure', this.circuitId, (store, options) =>
      store.addFailure(this.circuitId, request, options),
    )
    if (!result.ok) return
    const record = result.value
    this.#learn(record, now)
    const { failureThreshold } = this.#options
    if (record.state !== CircuitState.CLOSED || record.generation !== permit.generation) return
    if (record.failures < failureThreshold) return
    await this.#transition(
      record,
      this.#openTarget(1),
      { minFailures: failureThreshold },
      TransitionReason.FAILURE_THRESHOLD,
    )
  }

  /** Clears the failures this environment knows of (only called when there are some, see #needsWrite). */
  async #recordSuccess(permit: PermitState): Promise<void> {
    const now = this.#options.now()
    const result = await this.#guard.call('resetFailures', this.circuitId, (store, options) =>
      store.resetFailures(this.circuitId, { opId: randomUUID(), generation: permit.generation, now }, options),
    )
    if (result.ok) this.#learn(result.value, now)
  }

  async #recordProbe(permit: PermitState, verdict: Verdict): Promise<void> {
    const from = { state: CircuitState.HALF_OPEN, generation: permit.generation } as const
    const { halfOpenSuccessThreshold } = this.#options
    if (verdict === 'failure') {
      await this.#transition(from, this.#openTarget(permit.openCount + 1), undefined, TransitionReason.PROBE_FAILED)
      return
    }
    if (verdict === 'success') {
      // The success that completes the threshold closes the circuit in the same write, still
      // holding its lease: giving the lease back first would let another environment send a
      // second probe in between.
      const closing = await this.#transition(
        from,
        { state: CircuitState.CLOSED },
        halfOpenSuccessThreshold > 1 ? { minSuccesses: halfOpenSuccessThreshold - 1 } : undefined,
        TransitionReason.PROBE_SUCCEEDED,
      )
      if (!closing.ok || closing.value.applied) return
      const current = closing.value.record
      if (current.state !== CircuitState.HALF_OPEN || current.generation !== permit.generation) return
    }
    // Not the closing success (or no verdict): count it and give the lease back for the next probe.
    const now = this.#options.now()
    const request = {
      opId: randomUUID(),
      generation: permit.generation,
      token: permit.token,
      success: verdict === 'success',
      now,
    }
    const result = await this.#guard.call('completeProbe', this.circuitId, (store, options) =>
      store.completeProbe(this.circuitId, request, options),
    )
    if (!result.ok) return
    const record = result.value
    this.#learn(record, now)
    if (record.state !== CircuitState.HALF_OPEN || record.generation !== permit.generation) return
    // Probes running side by side: the last of them to report may have completed the threshold.
    if (record.successes < halfOpenSuccessThreshold) return
    await this.#transition(
      record,
      { state: CircuitState.CLOSED },
      { minSuccesses: halfOpenSuccessThreshold },
      TransitionReason.PROBE_SUCCEEDED,
    )
  }

  #openTarget(openCount: number): TransitionTarget {
    const { resetTimeoutMs, maxResetTimeoutMs } = this.#options
    return {
      state: CircuitState.OPEN,
      openCount,
      retryInMs: retryDelayMs(openCount, resetTimeoutMs, maxResetTimeoutMs),
    }
  }

  /** Attempts a transition; reports it as this instance's own only if the store applied it. */
  async #transition(
    from: { readonly state: CircuitState; readonly generation: number },
    to: TransitionTarget,
    guard: TransitionGuard | undefined,
    reason: TransitionReason,
  ): Promise<GuardedResult<TransitionOutcome>> {
    const now = this.#options.now()
    const request = {
      opId: randomUUID(),
      from: { state: from.state, generation: from.generation },
      to,
      now,
      ...(guard === undefined ? {} : { guard }),
    }
    const result = await this.#guard.call('transition', this.circuitId, (store, options) =>
      store.transition(this.circuitId, request, options),
    )
    if (result.ok) {
      const { applied, record } = result.value
      this.#learn(record, now, applied ? { reason, from: from.state } : {})
    }
    return result
  }

  // ---- knowing ----------------------------------------------------------------------------------

  /**
   * Takes in a record the store returned: refreshes the cache and emits the change, as this
   * instance's own when it made it (`local`), as observed otherwise. A write's answer older than
   * what is already known (concurrent calls on one instance) is ignored; a read's is always taken,
   * since the circuit may have been cleared.
   */
  #learn(
    record: CircuitRecord,
    now: number,
    how: { readonly reason?: TransitionReason; readonly from?: CircuitState; readonly fromRead?: boolean } = {},
  ): void {
    const known = this.#known
    if (known !== undefined && how.fromRead !== true && record.generation < known.generation) return
    this.#cache.store(record, now)
    const state = effectiveState(record, now)
    const forced = activeOverride(record, now) !== undefined
    this.#known = { state, generation: record.generation, forced }
    if (how.reason !== undefined) {
      const from = how.from ?? known?.state ?? CircuitState.CLOSED
      this.#events.emit({
        circuitId: this.circuitId,
        from,
        to: state,
        at: now,
        reason: how.reason,
        origin: 'local',
        record,
      })
      return
    }
    if (known === undefined || known.state === state) return
    const reason = inferReason(known.state, state, record, now, known.forced, record.generation - known.generation)
    this.#events.emit({
      circuitId: this.circuitId,
      from: known.state,
      to: state,
      at: now,
      reason,
      origin: 'observed',
      record,
    })
  }

  // ---- small helpers ----------------------------------------------------------------------------

  #timeoutError(): CallTimeoutError {
    return new CallTimeoutError({ circuitId: this.circuitId, timeoutMs: this.#options.callTimeoutMs ?? 0 })
  }

  async #fallbackOr(error: unknown, kind: FallbackKind): Promise<TFallback> {
    if (this.#fallback === undefined) throw error
    return this.#fallback(error, { circuitId: this.circuitId, kind })
  }
}

function checkOverride(state: ForcedStateName, options: OverrideOptions): OverrideRequest {
  const { reason, durationMs } = options
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON_LENGTH)) {
    throw new InvalidConfigurationError('reason', reason, `a string of at most ${MAX_REASON_LENGTH} characters`)
  }
  if (durationMs !== undefined && (!Number.isInteger(durationMs) || durationMs < 1)) {
    throw new InvalidConfigurationError('durationMs', durationMs, 'an integer of 1 or more')
  }
  return {
    state,
    ...(reason === undefined ? {} : { reason }),
    ...(durationMs === undefined ? {} : { durationMs }),
  }
}
