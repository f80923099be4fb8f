import { StoreUnavailableError } from './errors.js'
import type { Logger } from './logger.js'
import type { ObserverHub } from './observe/hub.js'
import type { CircuitStore, StoreCallOptions } from './store/contract.js'

/** The answer of a guarded store call: its value, or why there is none. */
export type GuardedResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown; readonly skipped: boolean }

/** Thrown into a store call's signal when the breaker stops waiting for it. */
export class StoreDeadlineError extends Error {
  constructor(operation: string, timeoutMs: number) {
    super(`store operation ${operation} did not answer within ${timeoutMs} ms`)
    this.name = 'StoreDeadlineError'
  }
}

/**
 * What one store's outage looks like. It is shared by every breaker using the same store object,
 * so an outage is logged once per environment, not once per circuit or per call.
 */
interface OutageState {
  since: number | undefined
  /** Until when calls skip the store and apply the outage policy straight away. */
  skipUntil: number
  failedCalls: number
}

const outages = new WeakMap<CircuitStore, OutageState>()

function outageOf(store: CircuitStore): OutageState {
  let outage = outages.get(store)
  if (outage === undefined) {
    outage = { since: undefined, skipUntil: 0, failedCalls: 0 }
    outages.set(store, outage)
  }
  return outage
}

export interface StoreGuardOptions {
  readonly store: CircuitStore
  readonly timeoutMs: number
  readonly retryIntervalMs: number
  readonly policy: string
  readonly now: () => number
  readonly logger: Logger
  /** Told of each store call's latency and failure. */
  readonly observers?: ObserverHub
}

/** Reads: when one fails, the store is taken to be down and calls skip it for a while. */
const READS: ReadonlySet<string> = new Set(['get', 'getMany'])

/**
 * Makes sure the store can never hurt a caller: every call is bounded by a deadline (and aborted
 * through its signal when the deadline passes); after a failed read, calls skip the store for
 * `retryIntervalMs` instead of each waiting out the deadline again; the first failure of an outage
 * is logged as one warning and the recovery as one info entry.
 *
 * A failed write does not make calls skip the store: during an outage of the protected downstream
 * the burst of failure writes on one circuit is what makes a store slow, and skipping reads then
 * would leave every environment deciding from a stale CLOSED view exactly when it matters. The
 * breaker instead stops trusting its view after a failed write, so its next decision reads.
 */
export class StoreGuard {
  readonly #options: StoreGuardOptions
  readonly #outage: OutageState

  constructor(options: StoreGuardOptions) {
    this.#options = options
    this.#outage = outageOf(options.store)
  }

  /**
   * Runs `operation` against the store within the deadline; never throws. `evenWhileSkipping`
   * sends it even while calls skip the store, for a write that gives a probe lease back.
   */
  async call<T>(
    name: string,
    circuitId: string,
    operation: (store: CircuitStore, options: StoreCallOptions) => Promise<T>,
    evenWhileSkipping = false,
  ): Promise<GuardedResult<T>> {
    const outage = this.#outage
    const now = this.#options.now()
    if (!evenWhileSkipping && outage.since !== undefined && now < outage.skipUntil) {
      outage.failedCalls++
      return { ok: false, error: new Error('store skipped during an outage'), skipped: true }
    }
    const startedAt = this.#options.observers?.timesStore === true ? performance.now() : 0
    try {
      const value = await this.#withDeadline(name, operation)
      this.#options.observers?.storeCall(name, startedAt, false)
      if (outage.since !== undefined) this.#recovered(name, circuitId)
      return { ok: true, value }
    } catch (error) {
      this.#options.observers?.storeCall(name, startedAt, true, error)
      this.#failed(name, circuitId, error)
      return { ok: false, error, skipped: false }
    }
  }

  /**
   * Like {@link call}, but throws a {@link StoreUnavailableError} (the store's error as its `cause`)
   * when the store does not answer: for operator actions, which must not fail silently. It asks the
   * store even while calls skip it: an operator acts during an incident, and should learn whether
   * the store took the change, not that an earlier read failed.
   */
  async callOrThrow<T>(
    name: string,
    circuitId: string,
    operation: (store: CircuitStore, options: StoreCallOptions) => Promise<T>,
  ): Promise<T> {
    const result = await this.call(name, circuitId, operation, true)
    if (result.ok) return result.value
    throw new StoreUnavailableError({ circuitId, cause: result.error, operation: name })
  }

  #withDeadline<T>(
    name: string,
    operation: (store: CircuitStore, options: StoreCallOptions) => Promise<T>,
  ): Promise<T> {
    const { store, timeoutMs } = this.#options
    const controller = new AbortController()
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new StoreDeadlineError(name, timeoutMs)
        controller.abort(error)
        reject(error)
      }, timeoutMs)
      // Referenced on purpose: a caller awaiting a store that never answers must still be answered
      // at the deadline, even when nothing else keeps the process alive. It is cleared on settling.
      operation(store, { signal: controller.signal }).then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  #failed(name: string, circuitId: string, error: unknown): void {
    const outage = this.#outage
    const now = this.#options.now()
    if (READS.has(name)) outage.skipUntil = now + this.#options.retryIntervalMs
    outage.failedCalls++
    if (outage.since !== undefined) return
    outage.since = now
    this.#options.logger.warn('fleet-breaker: circuit store unavailable', {
      circuitId,
      operation: name,
      policy: this.#options.policy,
      retryIntervalMs: this.#options.retryIntervalMs,
      error,
    })
  }

  #recovered(name: string, circuitId: string): void {
    const outage = this.#outage
    const since = outage.since ?? this.#options.now()
    this.#options.logger.info('fleet-breaker: circuit store available again', {
      circuitId,
      operation: name,
      outageMs: this.#options.now() - since,
      failedCalls: outage.failedCalls,
    })
    outage.since = undefined
    outage.skipUntil = 0
    outage.failedCalls = 0
  }
}
