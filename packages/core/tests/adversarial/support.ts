import {
  type AcquireProbeRequest,
  type AddCountsRequest,
  type AddFailureRequest,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitRecord,
  type CircuitStore,
  type CompleteProbeRequest,
  type ListPage,
  type ListRequest,
  MemoryStore,
  type ProbeOutcome,
  type ResetFailuresRequest,
  type ResetRequest,
  type SetForcedRequest,
  type SetManyEntry,
  type SetManyRequest,
  type SetShadowRequest,
  type StateChange,
  type TransitionOutcome,
  type TransitionRequest,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { recordingLogger } from '../../../../test-support/logger.js'

export { recordingLogger }

/** An error the default classifier counts. */
export class ServiceUnavailable extends Error {
  readonly statusCode = 503
  constructor() {
    super('downstream answered 503')
    this.name = 'ServiceUnavailable'
  }
}

export const fails = async (): Promise<never> => {
  throw new ServiceUnavailable()
}
export const succeeds = async (): Promise<string> => 'ok'

export type Options = Omit<CircuitBreakerOptions<never>, 'store' | 'now'>

export type Op = keyof CircuitStore

/**
 * What happens to one call:
 * - 'none': passes through;
 * - 'error': fails without reaching the store;
 * - 'hang': never reaches the store, answers only when its signal aborts;
 * - 'late-answer': applied, then never answers (until its signal aborts);
 * - 'lose-answer': applied, then fails;
 * - 'hold-request': not applied until {@link ScriptedStore.releaseRequests} (then answers normally);
 * - 'hold-answer': applied, answer held until {@link ScriptedStore.releaseAnswers}.
 */
export type Directive = 'none' | 'error' | 'hang' | 'late-answer' | 'lose-answer' | 'hold-request' | 'hold-answer'

interface Signalled {
  readonly signal?: AbortSignal
}

function untilAborted<T>(options: Signalled | undefined): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    options?.signal?.addEventListener('abort', () => reject(options.signal?.reason), { once: true })
  })
}

/** One call as the scripted store saw it. */
export interface CallLog {
  readonly op: Op
  readonly directive: Directive
  readonly startedAt: number
  endedAt?: number
  outcome?: 'answered' | 'failed'
}

/**
 * A store wrapper with a per-operation script: each call of `op` takes the next directive of
 * `script[op]` (then 'none'). Logs every call with real start/end times, so a test can count how
 * many store calls an `execute()` made one after another and how many ran into the deadline.
 */
export class ScriptedStore implements CircuitStore {
  readonly inner: CircuitStore
  readonly script = new Map<Op, Directive[]>()
  /** Directive for calls that have nothing scripted. */
  fallback: Directive = 'none'
  readonly log: CallLog[] = []
  readonly #heldRequests: Array<() => void> = []
  readonly #heldAnswers: Array<() => void> = []
  /** Called when a call's deadline aborts it (e.g. to move a manual clock by the time spent). */
  onAbort: (() => void) | undefined

  constructor(inner: CircuitStore) {
    this.inner = inner
  }

  plan(op: Op, ...directives: Directive[]): this {
    this.script.set(op, [...(this.script.get(op) ?? []), ...directives])
    return this
  }

  releaseRequests(): void {
    for (const release of this.#heldRequests.splice(0)) release()
  }

  releaseAnswers(order: 'arrival' | 'reverse' = 'arrival'): void {
    const held = this.#heldAnswers.splice(0)
    if (order === 'reverse') held.reverse()
    for (const deliver of held) deliver()
  }

  get heldRequests(): number {
    return this.#heldRequests.length
  }

  async #call<T>(op: Op, options: Signalled | undefined, run: () => Promise<T>): Promise<T> {
    const directive = this.script.get(op)?.shift() ?? this.fallback
    const entry: CallLog = { op, directive, startedAt: performance.now() }
    this.log.push(entry)
    const aborted = () => {
      this.onAbort?.()
    }
    options?.signal?.addEventListener('abort', aborted, { once: true })
    try {
      const value = await this.#apply(directive, options, run)
      entry.outcome = 'answered'
      return value
    } catch (error) {
      entry.outcome = 'failed'
      throw error
    } finally {
      entry.endedAt = performance.now()
      options?.signal?.removeEventListener('abort', aborted)
    }
  }

  async #apply<T>(directive: Directive, options: Signalled | undefined, run: () => Promise<T>): Promise<T> {
    switch (directive) {
      case 'none':
        return run()
      case 'error':
        throw new Error('scripted store failure')
      case 'hang':
        return untilAborted(options)
      case 'late-answer':
        await run()
        return untilAborted(options)
      case 'lose-answer':
        await run()
        throw new Error('scripted loss of the answer')
      case 'hold-request':
        await new Promise<void>((resolve) => this.#heldRequests.push(resolve))
        return run()
      case 'hold-answer': {
        const answer = await run()
        return new Promise<T>((resolve) => this.#heldAnswers.push(() => resolve(answer)))
      }
    }
  }

  get(circuitId: string, options?: Signalled): Promise<CircuitRecord | undefined> {
    return this.#call('get', options, () => this.inner.get(circuitId, options))
  }
  getMany(circuitIds: readonly string[], options?: Signalled): Promise<ReadonlyMap<string, CircuitRecord>> {
    return this.#call('getMany', options, () => this.inner.getMany(circuitIds, options))
  }
  addFailure(circuitId: string, request: AddFailureRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('addFailure', options, () => this.inner.addFailure(circuitId, request, options))
  }
  addCounts(circuitId: string, request: AddCountsRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('addCounts', options, () => this.inner.addCounts(circuitId, request, options))
  }
  resetFailures(circuitId: string, request: ResetFailuresRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('resetFailures', options, () => this.inner.resetFailures(circuitId, request, options))
  }
  transition(circuitId: string, request: TransitionRequest, options?: Signalled): Promise<TransitionOutcome> {
    return this.#call('transition', options, () => this.inner.transition(circuitId, request, options))
  }
  acquireProbe(circuitId: string, request: AcquireProbeRequest, options?: Signalled): Promise<ProbeOutcome> {
    return this.#call('acquireProbe', options, () => this.inner.acquireProbe(circuitId, request, options))
  }
  completeProbe(circuitId: string, request: CompleteProbeRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('completeProbe', options, () => this.inner.completeProbe(circuitId, request, options))
  }
  setForced(circuitId: string, request: SetForcedRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('setForced', options, () => this.inner.setForced(circuitId, request, options))
  }
  reset(circuitId: string, request: ResetRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('reset', options, () => this.inner.reset(circuitId, request, options))
  }
  setMany(entries: readonly SetManyEntry[], request: SetManyRequest, options?: Signalled): Promise<void> {
    return this.#call('setMany', options, () => this.inner.setMany(entries, request, options))
  }
  clearMany(circuitIds: readonly string[], options?: Signalled): Promise<void> {
    return this.#call('clearMany', options, () => this.inner.clearMany(circuitIds, options))
  }
  setShadow(circuitId: string, request: SetShadowRequest, options?: Signalled): Promise<CircuitRecord> {
    return this.#call('setShadow', options, () => this.inner.setShadow(circuitId, request, options))
  }
  list(request: ListRequest, options?: Signalled): Promise<ListPage> {
    return this.#call('list', options, () => this.inner.list(request, options))
  }
}

export interface Member {
  /** The environment's own connection: faults injected here only affect this environment. */
  readonly store: InstrumentedStore
  /** Per-call scripted faults, beneath {@link store}. */
  readonly script: ScriptedStore
  readonly breaker: CircuitBreaker
  readonly changes: StateChange[]
}

/**
 * `size` environments sharing one MemoryStore, each through its own connection
 * (InstrumentedStore over ScriptedStore over the shared store), on one manual clock.
 */
export function environments(size: number, options: Options = {}, perMember: (index: number) => Options = () => ({})) {
  const clock = new ManualClock()
  const shared = new MemoryStore()
  const logger = recordingLogger()
  const changes: Array<StateChange & { env: number }> = []
  const members: Member[] = Array.from({ length: size }, (_, index) => {
    const script = new ScriptedStore(shared)
    const store = new InstrumentedStore(script)
    const own: StateChange[] = []
    const breaker = new CircuitBreaker({
      circuitId: 'payment-api',
      logger,
      ...options,
      ...perMember(index),
      store,
      now: clock.now,
    })
    breaker.onStateChange((change) => {
      own.push(change)
      changes.push({ ...change, env: index })
    })
    return { store, script, breaker, changes: own }
  })
  const reader = new CircuitBreaker({ circuitId: 'payment-api', logger, store: shared, now: clock.now })
  const local = () => changes.filter((change) => change.origin === 'local')
  const raw = async () => shared.get('payment-api')
  return { clock, shared, logger, changes, local, members, reader, raw }
}

export function pair<T>(items: readonly T[]): [T, T] {
  const [a, b] = items
  if (a === undefined || b === undefined) throw new Error('expected two items')
  return [a, b]
}

export function only<T>(items: readonly T[]): T {
  const [a] = items
  if (a === undefined) throw new Error('expected one item')
  return a
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

/** Lets every pending microtask and immediate run. */
export const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

export function gate() {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}
