/**
 * A fleet of execution environments on a simulated clock: every environment has its own
 * `CircuitBreaker` (its own `environmentId`, its own `InstrumentedStore` over one shared
 * `MemoryStore`), invocations arrive as in the fleet simulator (`examples/fleet/schedule.ts`, one at a
 * time per environment), and the downstream is a function of the environment and the time, so a
 * scenario can fail a share of calls, fail one environment only, or slow every call down.
 *
 * Nothing waits: events run in time order, each to completion (store operations included) before
 * the clock moves to the next, so a minute of fleet time takes a fraction of a second and the
 * figures are the breaker's alone, with no timer lag in them. Store operations take no simulated
 * time; the fleet suite measures real stores.
 */
import { performance } from 'node:perf_hooks'
import {
  type CallPermit,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  isCircuitOpenError,
  type Logger,
  MemoryStore,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { deriveSeed, seededRandom } from '../../../examples/fleet/random.js'
import { arrivalSchedule } from '../../../examples/fleet/schedule.js'

/** The breaker options a scenario sets; the fleet supplies the store, circuit id, clock, environment id and logger. */
export type BreakerSettings = Omit<
  CircuitBreakerOptions,
  'store' | 'circuitId' | 'now' | 'environmentId' | 'logger' | 'fallback'
>

/** What the downstream does with one call. */
export interface DownstreamAnswer {
  /** Whether the call fails (counted as a failure by the breaker). */
  readonly failed: boolean
  /** How long the call takes, in simulated milliseconds. */
  readonly latencyMs: number
}

/** One call as the downstream receives it; `random` is the calling environment's own seeded stream. */
export interface DownstreamRequest {
  readonly environment: number
  /** Milliseconds since the run started. */
  readonly atMs: number
  readonly random: () => number
}

export type Downstream = (request: DownstreamRequest) => DownstreamAnswer

/** Options of {@link runVirtualFleet}. */
export interface VirtualFleetOptions {
  readonly environments: number
  /** Seeds arrivals and the downstream's draws: the same seed, the same run. */
  readonly seed: number
  /** Arrivals are drawn in `[0, durationMs)`; calls in flight at the end still complete. */
  readonly durationMs: number
  /** Mean invocations a second, per environment (Poisson arrivals). */
  readonly invocationsPerSecond: number
  readonly breaker: BreakerSettings
  readonly downstream: Downstream
}

/** A call that reached the downstream. */
export interface CallRecord {
  readonly environment: number
  /** When it was sent, in milliseconds since the run started. */
  readonly atMs: number
  readonly failed: boolean
  readonly latencyMs: number
  /** Whether it was a half-open probe. */
  readonly probe: boolean
}

/** A call the breaker turned away. */
export interface RejectionRecord {
  readonly environment: number
  readonly atMs: number
  /** `open`, `probes-busy`, `ramping`, ... (the `CircuitOpenError`'s reason), or the error's name. */
  readonly reason: string
}

/** A state change one environment's breaker reported. */
export interface TransitionRecord {
  readonly environment: number
  readonly atMs: number
  readonly from: CircuitState
  readonly to: CircuitState
  readonly reason: string
  /** `local`: this environment made the change (one per change of the shared state). */
  readonly origin: 'local' | 'observed'
}

/** Everything a run recorded. */
export interface VirtualRun {
  readonly environments: number
  readonly durationMs: number
  readonly invocations: number
  readonly calls: readonly CallRecord[]
  readonly rejections: readonly RejectionRecord[]
  readonly transitions: readonly TransitionRecord[]
  /** Store round trips of each environment (reads are `get`, writes everything else). */
  readonly store: ReadonlyArray<{ readonly reads: number; readonly writes: number }>
  /** Warnings and errors the breakers logged. */
  readonly warnings: number
  /** How long the run took on this machine, in milliseconds. */
  readonly wallMs: number
}

/** One pending event per environment: its next arrival, or the end of its call in flight. */
interface PendingEvent {
  readonly atMs: number
  readonly environment: number
}

/** A binary min-heap of events, by time, then environment (so equal times run in a fixed order). */
class EventQueue {
  readonly #items: PendingEvent[] = []

  get size(): number {
    return this.#items.length
  }

  push(event: PendingEvent): void {
    const items = this.#items
    items.push(event)
    let index = items.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(items[index] as PendingEvent, items[parent] as PendingEvent)) break
      swap(items, index, parent)
      index = parent
    }
  }

  pop(): PendingEvent | undefined {
    const items = this.#items
    const top = items[0]
    const last = items.pop()
    if (top === undefined || last === undefined || items.length === 0) return top
    items[0] = last
    let index = 0
    for (;;) {
      const left = 2 * index + 1
      const right = left + 1
      let smallest = index
      if (left < items.length && before(items[left] as PendingEvent, items[smallest] as PendingEvent)) smallest = left
      if (right < items.length && before(items[right] as PendingEvent, items[smallest] as PendingEvent))
        smallest = right
      if (smallest === index) break
      swap(items, index, smallest)
      index = smallest
    }
    return top
  }
}

const before = (a: PendingEvent, b: PendingEvent): boolean =>
  a.atMs < b.atMs || (a.atMs === b.atMs && a.environment < b.environment)

function swap<T>(items: T[], i: number, j: number): void {
  const held = items[i] as T
  items[i] = items[j] as T
  items[j] = held
}

/** A call in flight: the permit to settle, and the answer to settle it with. */
interface InFlight {
  readonly permit: CallPermit
  readonly failed: boolean
}

/** One simulated execution environment. */
interface Environment {
  readonly breaker: CircuitBreaker
  readonly store: InstrumentedStore
  readonly arrivals: readonly number[]
  readonly random: () => number
  /** Index of its next arrival. */
  next: number
  inFlight: InFlight | undefined
}

/**
 * Runs a fleet on a simulated clock and records what reached the downstream, what was rejected,
 * the state changes and the store round trips.
 *
 * @example
 * ```ts
 * const run = await runVirtualFleet({
 *   environments: 50, seed: 1, durationMs: 10_000, invocationsPerSecond: 5,
 *   breaker: { failureRateThreshold: 0.5, minimumCalls: 20 },
 *   downstream: ({ random }) => ({ failed: random() < 0.05, latencyMs: 20 }),
 * })
 * ```
 */
export async function runVirtualFleet(options: VirtualFleetOptions): Promise<VirtualRun> {
  const started = performance.now()
  const { environments: size, seed, durationMs, invocationsPerSecond, downstream } = options
  const clock = new ManualClock()
  const origin = clock.now()
  const elapsed = () => clock.now() - origin
  const shared = new MemoryStore()
  const circuitId = `trip-logic-${seed}-${size}`
  let warnings = 0
  const logger: Logger = {
    debug() {},
    info() {},
    warn() {
      warnings++
    },
    error() {
      warnings++
    },
  }
  const calls: CallRecord[] = []
  const rejections: RejectionRecord[] = []
  const transitions: TransitionRecord[] = []
  const schedule = arrivalSchedule({ environments: size, seed, durationMs, invocationsPerSecond })
  const fleet: Environment[] = schedule.map((arrivals, index) => {
    const store = new InstrumentedStore(shared)
    const breaker = new CircuitBreaker({
      ...options.breaker,
      circuitId,
      store,
      now: clock.now,
      environmentId: `env-${index}`,
      logger,
    })
    breaker.onStateChange(({ from, to, reason, origin: madeBy, at }) => {
      transitions.push({ environment: index, atMs: at - origin, from, to, reason, origin: madeBy })
    })
    // A stream of its own for the downstream's draws, apart from the arrival schedule's.
    const random = seededRandom(deriveSeed(seed ^ 0x7a5c_e11d, index))
    return { breaker, store, arrivals, random, next: 0, inFlight: undefined }
  })

  const queue = new EventQueue()
  /** Queues the environment's next arrival, no sooner than `notBeforeMs` (it is busy until then). */
  const queueArrival = (index: number, environment: Environment, notBeforeMs: number) => {
    const planned = environment.arrivals[environment.next]
    if (planned !== undefined) queue.push({ atMs: Math.max(planned, notBeforeMs), environment: index })
  }
  fleet.forEach((environment, index) => {
    queueArrival(index, environment, 0)
  })

  let invocations = 0
  for (let event = queue.pop(); event !== undefined; event = queue.pop()) {
    clock.advance(Math.max(0, event.atMs - elapsed()))
    const index = event.environment
    const environment = fleet[index] as Environment
    const inFlight = environment.inFlight
    if (inFlight !== undefined) {
      // The call in flight ends now: its outcome is recorded, and the environment is free.
      environment.inFlight = undefined
      await (inFlight.failed ? inFlight.permit.recordFailure() : inFlight.permit.recordSuccess())
      queueArrival(index, environment, event.atMs)
      continue
    }
    environment.next++
    invocations++
    const admission = await environment.breaker.admit()
    if (!admission.admitted) {
      const { error } = admission
      rejections.push({
        environment: index,
        atMs: event.atMs,
        reason: isCircuitOpenError(error) ? error.reason : error.name,
      })
      queueArrival(index, environment, event.atMs)
      continue
    }
    const answer = downstream({ environment: index, atMs: event.atMs, random: environment.random })
    calls.push({
      environment: index,
      atMs: event.atMs,
      failed: answer.failed,
      latencyMs: answer.latencyMs,
      probe: admission.permit.isProbe,
    })
    environment.inFlight = { permit: admission.permit, failed: answer.failed }
    queue.push({ atMs: event.atMs + answer.latencyMs, environment: index })
  }

  return {
    environments: size,
    durationMs,
    invocations,
    calls,
    rejections,
    transitions,
    store: fleet.map(({ store }) => ({ reads: store.reads, writes: store.writes })),
    warnings,
    wallMs: performance.now() - started,
  }
}
