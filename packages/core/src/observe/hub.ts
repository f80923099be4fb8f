import { type CircuitBreakerError, isCircuitOpenError, isConcurrencyLimitError } from '../errors.js'
import type { StateChange } from '../events.js'
import type { Logger } from '../logger.js'
import { type BreakerObserver, RejectedBecause } from './observer.js'

type Method = Exclude<keyof BreakerObserver, 'flush'>

/** Why `error` rejected a call, as observers are told. */
export function rejectedBecause(error: CircuitBreakerError): RejectedBecause {
  if (isCircuitOpenError(error)) return error.reason
  if (isConcurrencyLimitError(error)) return RejectedBecause.CONCURRENCY_LIMIT
  return RejectedBecause.STORE_UNAVAILABLE
}

/**
 * Hands a breaker's events to its observers. Each kind of event has the observers that want it
 * resolved once, at construction: with none, a hook is a field read and a return, with no event
 * object made, no closure and no clock read. An observer that throws is logged once (per
 * observer), never propagated.
 */
export class ObserverHub {
  readonly #circuitId: string
  readonly #now: () => number
  readonly #logger: Logger
  /** The observers whose failure was logged; made with the first one. */
  #failedOnce: Set<BreakerObserver> | undefined
  readonly #stateChange: readonly BreakerObserver[]
  readonly #rejected: readonly BreakerObserver[]
  readonly #probeSucceeded: readonly BreakerObserver[]
  readonly #probeFailed: readonly BreakerObserver[]
  readonly #failureCounted: readonly BreakerObserver[]
  readonly #failOpen: readonly BreakerObserver[]
  readonly #locallyOpened: readonly BreakerObserver[]
  readonly #storeError: readonly BreakerObserver[]
  readonly #storeLatency: readonly BreakerObserver[]
  /** Whether store calls are timed: only when an observer wants their latency. */
  readonly timesStore: boolean

  constructor(circuitId: string, observers: readonly BreakerObserver[], now: () => number, logger: Logger) {
    this.#circuitId = circuitId
    this.#now = now
    this.#logger = logger
    const wanting = (method: Method) => observers.filter((observer) => typeof observer[method] === 'function')
    this.#stateChange = wanting('onStateChange')
    this.#rejected = wanting('onCallRejected')
    this.#probeSucceeded = wanting('onProbeSucceeded')
    this.#probeFailed = wanting('onProbeFailed')
    this.#failureCounted = wanting('onFailureCounted')
    this.#failOpen = wanting('onFailOpenCall')
    this.#locallyOpened = wanting('onLocallyOpened')
    this.#storeError = wanting('onStoreError')
    this.#storeLatency = wanting('onStoreLatency')
    this.timesStore = this.#storeLatency.length > 0
  }

  /** Whether any observer wants state changes (the breaker then subscribes {@link stateChanged}). */
  get wantsStateChanges(): boolean {
    return this.#stateChange.length > 0
  }

  stateChanged(change: StateChange): void {
    for (const observer of this.#stateChange) this.#call(observer, 'onStateChange', change)
  }

  /** A rejected call; `wouldReject`: shadow mode let it through. */
  rejected(error: CircuitBreakerError, wouldReject = false): void {
    if (this.#rejected.length === 0) return
    const event = { circuitId: this.#circuitId, reason: rejectedBecause(error), wouldReject, at: this.#now() }
    for (const observer of this.#rejected) this.#call(observer, 'onCallRejected', event)
  }

  probeCompleted(succeeded: boolean): void {
    const observers = succeeded ? this.#probeSucceeded : this.#probeFailed
    if (observers.length === 0) return
    const event = { circuitId: this.#circuitId, succeeded, at: this.#now() }
    for (const observer of observers) this.#call(observer, succeeded ? 'onProbeSucceeded' : 'onProbeFailed', event)
  }

  failureCounted(slow: boolean): void {
    if (this.#failureCounted.length === 0) return
    const event = { circuitId: this.#circuitId, slow, at: this.#now() }
    for (const observer of this.#failureCounted) this.#call(observer, 'onFailureCounted', event)
  }

  failOpen(): void {
    if (this.#failOpen.length === 0) return
    const event = { circuitId: this.#circuitId, at: this.#now() }
    for (const observer of this.#failOpen) this.#call(observer, 'onFailOpenCall', event)
  }

  locallyOpened(): void {
    if (this.#locallyOpened.length === 0) return
    const event = { circuitId: this.#circuitId, at: this.#now() }
    for (const observer of this.#locallyOpened) this.#call(observer, 'onLocallyOpened', event)
  }

  /**
   * A store call ended: `startedAt` is from `performance.now()` when {@link timesStore}, else 0;
   * `error` is set when it failed.
   */
  storeCall(operation: string, startedAt: number, failed: boolean, error?: unknown): void {
    if (this.timesStore) {
      const event = { circuitId: this.#circuitId, operation, durationMs: performance.now() - startedAt, ok: !failed }
      for (const observer of this.#storeLatency) this.#call(observer, 'onStoreLatency', event)
    }
    if (!failed || this.#storeError.length === 0) return
    const event = { circuitId: this.#circuitId, operation, error, at: this.#now() }
    for (const observer of this.#storeError) this.#call(observer, 'onStoreError', event)
  }

  #call<M extends Method>(observer: BreakerObserver, method: M, event: Parameters<NonNullable<BreakerObserver[M]>>[0]) {
    try {
      const returned: unknown = (observer[method] as (this: BreakerObserver, event: unknown) => unknown).call(
        observer,
        event,
      )
      // An async method's rejection would otherwise be unhandled, and end the Lambda process.
      if (isThenable(returned)) returned.then(undefined, (error: unknown) => this.#failed(observer, method, error))
    } catch (error) {
      this.#failed(observer, method, error)
    }
  }

  #failed(observer: BreakerObserver, method: Method, error: unknown): void {
    this.#failedOnce ??= new Set()
    if (this.#failedOnce.has(observer)) return
    this.#failedOnce.add(observer)
    try {
      this.#logger.error('fleet-breaker: an observer threw; its further failures are not logged', {
        circuitId: this.#circuitId,
        method,
        error,
      })
    } catch {
      // A logger that throws must not turn an observer's failure into the call's.
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'then') === 'function'
}

/** The longest {@link flushObservers} waits unless told otherwise. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 2_000

/** Options of {@link flushObservers}. */
export interface FlushOptions {
  /**
   * The longest to wait, in milliseconds: an observer still flushing then is left to finish in the
   * background. Pass the invocation's remaining time (less a margin) so a flush never holds the
   * response past the deadline. Default 2 000.
   */
  readonly timeoutMs?: number
}

/**
 * Calls `flush()` on every observer that has one, in parallel, and waits for them at most
 * `options.timeoutMs` (default {@link DEFAULT_FLUSH_TIMEOUT_MS}); never rejects (a failure is logged).
 *
 * @example
 * ```ts
 * import { CircuitBreaker, flushObservers, MemoryStore } from '@fleet-breaker/core'
 *
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore() })
 * export const handler = async () => {
 *   try {
 *     return await breaker.execute(() => fetch('https://payments.example/health'))
 *   } finally {
 *     await flushObservers(breaker.options.observers, breaker.options.logger)
 *   }
 * }
 * ```
 */
export async function flushObservers(
  observers: readonly BreakerObserver[],
  logger?: Logger,
  options: FlushOptions = {},
): Promise<void> {
  const flushing = observers.filter((observer) => typeof observer.flush === 'function')
  if (flushing.length === 0) return
  const given = options.timeoutMs
  const all = Promise.all(
    flushing.map(async (observer) => {
      try {
        await (given === undefined ? observer.flush?.() : observer.flush?.(Math.max(0, given)))
      } catch (error) {
        try {
          logger?.error('fleet-breaker: an observer failed to flush', { error })
        } catch {
          // Never rejects, whatever the logger does.
        }
      }
    }),
  )
  const timeoutMs = given ?? DEFAULT_FLUSH_TIMEOUT_MS
  if (!Number.isFinite(timeoutMs)) return void (await all)
  // A flush that never settles (a hung request) must not hold the invocation's response.
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, timeoutMs))
  })
  try {
    await Promise.race([all, timedOut])
  } finally {
    clearTimeout(timer)
  }
}
