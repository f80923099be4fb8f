import type { CircuitRecord } from '../state.js'
import type {
  AcquireProbeRequest,
  AddCountsRequest,
  AddFailureRequest,
  CircuitStore,
  CompleteProbeRequest,
  ListPage,
  ListRequest,
  ProbeOutcome,
  ResetFailuresRequest,
  ResetRequest,
  SetForcedRequest,
  SetManyEntry,
  SetManyRequest,
  SetShadowRequest,
  StoreCallOptions,
  TransitionOutcome,
  TransitionRequest,
} from '../store/contract.js'

/** The operations of {@link CircuitStore}, each counted separately. */
export type StoreOperation = keyof CircuitStore

const READS: ReadonlySet<StoreOperation> = new Set(['get', 'getMany', 'list'])

/**
 * How an {@link InstrumentedStore} behaves:
 * - `'none'`: calls pass through;
 * - `'error'`: calls fail without reaching the store;
 * - `'hang'`: calls never reach the store and never answer (until their signal aborts);
 * - `'lose-answer'`: calls are applied, then fail, as when a connection drops after the store
 *   processed a request;
 * - `'late-answer'`: calls are applied, then never answer (until their signal aborts), as when
 *   the deadline passes after the store processed a request;
 * - `'retry'`: calls are applied twice with the same request and answer with the second
 *   application, as when a client retries a request whose first answer was lost.
 */
export type StoreFault = 'none' | 'error' | 'hang' | 'lose-answer' | 'late-answer' | 'retry'

function waitForAbort<T>(options: StoreCallOptions | undefined): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    options?.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true })
  })
}

/**
 * Wraps any store to count its operations and to inject faults. Each call is one round trip to
 * the backend; reads are `get`, `getMany` and `list`, everything else is a write.
 *
 * @example
 * ```ts
 * const store = new InstrumentedStore(new MemoryStore())
 * await breaker.execute(healthyCall)
 * expect(store.writes).toBe(0)
 * store.fault = 'hang' // every call now waits until the breaker's deadline aborts it
 * ```
 */
export class InstrumentedStore implements CircuitStore {
  readonly inner: CircuitStore
  /** Calls per operation since construction or the last {@link resetCounts}. */
  readonly calls = new Map<StoreOperation, number>()
  fault: StoreFault = 'none'
  /** The operations {@link fault} applies to; all of them when absent. */
  faultOperations: ReadonlySet<StoreOperation> | undefined
  /** Answers held back while {@link holdAnswers} is in effect, in the order they arrived. */
  readonly #held: Array<() => void> = []
  /** The operations whose answers are being held back, if any. */
  #holding: ReadonlySet<StoreOperation> | 'all' | undefined

  constructor(inner: CircuitStore) {
    this.inner = inner
  }

  /** Read round trips. */
  get reads(): number {
    return this.#sum((operation) => READS.has(operation))
  }

  /** Write round trips. */
  get writes(): number {
    return this.#sum((operation) => !READS.has(operation))
  }

  /** All round trips. */
  get roundTrips(): number {
    return this.#sum(() => true)
  }

  resetCounts(): void {
    this.calls.clear()
  }

  /**
   * Holds answers back (of `operations`, or of every operation) until {@link releaseAnswers}; the
   * operations themselves are applied. Delivers answers in another order than their requests were
   * applied in, as a client with several connections can.
   */
  holdAnswers(operations?: ReadonlySet<StoreOperation>): void {
    this.#holding = operations ?? 'all'
  }

  /** How many answers are held back. */
  get heldAnswers(): number {
    return this.#held.length
  }

  /** Delivers the held answers, newest first with `'reverse'`, and stops holding. */
  releaseAnswers(order: 'arrival' | 'reverse' = 'arrival'): void {
    this.#holding = undefined
    const held = this.#held.splice(0)
    if (order === 'reverse') held.reverse()
    for (const deliver of held) deliver()
  }

  #sum(include: (operation: StoreOperation) => boolean): number {
    let total = 0
    for (const [operation, count] of this.calls) if (include(operation)) total += count
    return total
  }

  async #call<T>(operation: StoreOperation, options: StoreCallOptions | undefined, run: () => Promise<T>): Promise<T> {
    this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1)
    const fault = this.faultOperations === undefined || this.faultOperations.has(operation) ? this.fault : 'none'
    switch (fault) {
      case 'error':
        throw new Error(`injected store failure in ${operation}`)
      case 'hang':
        return waitForAbort(options)
      case 'lose-answer':
        await run()
        throw new Error(`injected loss of the answer to ${operation}`)
      case 'late-answer':
        await run()
        return waitForAbort(options)
      case 'retry':
        await run()
        return this.#deliver(operation, await run())
      case 'none':
        return this.#deliver(operation, await run())
    }
  }

  #deliver<T>(operation: StoreOperation, answer: T): Promise<T> | T {
    const holding = this.#holding
    if (holding === undefined || (holding !== 'all' && !holding.has(operation))) return answer
    return new Promise<T>((resolve) => this.#held.push(() => resolve(answer)))
  }

  get(circuitId: string, options?: StoreCallOptions): Promise<CircuitRecord | undefined> {
    return this.#call('get', options, () => this.inner.get(circuitId, options))
  }

  getMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<ReadonlyMap<string, CircuitRecord>> {
    return this.#call('getMany', options, () => this.inner.getMany(circuitIds, options))
  }

  addFailure(circuitId: string, request: AddFailureRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('addFailure', options, () => this.inner.addFailure(circuitId, request, options))
  }

  addCounts(circuitId: string, request: AddCountsRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('addCounts', options, () => this.inner.addCounts(circuitId, request, options))
  }

  resetFailures(circuitId: string, request: ResetFailuresRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('resetFailures', options, () => this.inner.resetFailures(circuitId, request, options))
  }

  transition(circuitId: string, request: TransitionRequest, options?: StoreCallOptions): Promise<TransitionOutcome> {
    return this.#call('transition', options, () => this.inner.transition(circuitId, request, options))
  }

  acquireProbe(circuitId: string, request: AcquireProbeRequest, options?: StoreCallOptions): Promise<ProbeOutcome> {
    return this.#call('acquireProbe', options, () => this.inner.acquireProbe(circuitId, request, options))
  }

  completeProbe(circuitId: string, request: CompleteProbeRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('completeProbe', options, () => this.inner.completeProbe(circuitId, request, options))
  }

  setForced(circuitId: string, request: SetForcedRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('setForced', options, () => this.inner.setForced(circuitId, request, options))
  }

  setShadow(circuitId: string, request: SetShadowRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('setShadow', options, () => this.inner.setShadow(circuitId, request, options))
  }

  reset(circuitId: string, request: ResetRequest, options?: StoreCallOptions): Promise<CircuitRecord> {
    return this.#call('reset', options, () => this.inner.reset(circuitId, request, options))
  }

  setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: StoreCallOptions): Promise<void> {
    return this.#call('setMany', options, () => this.inner.setMany(entries, request, options))
  }

  clearMany(circuitIds: readonly string[], options?: StoreCallOptions): Promise<void> {
    return this.#call('clearMany', options, () => this.inner.clearMany(circuitIds, options))
  }

  list(request: ListRequest, options?: StoreCallOptions): Promise<ListPage> {
    return this.#call('list', options, () => this.inner.list(request, options))
  }
}
