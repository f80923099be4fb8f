import { CircuitBreaker, isCircuitOpenError, type Logger, MemoryStore } from '@fleet-breaker/core'
import {
  ConsecutiveBreaker,
  circuitBreaker,
  handleAll,
  isBrokenCircuitError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel'
import Opossum from 'opossum'

/**
 * Which library a contender measures. `bare` is the call with nothing around it; a `reference` is
 * the bare call plus one thing a breaker may need per call: one `new AbortController()`, the floor
 * of any timeout path that hands each call its own abort signal, or one `Date.now()`, the floor of
 * a call that checks whether its cached view is still trusted.
 */
export type Library = 'bare' | 'reference' | 'fleet-breaker' | 'cockatiel' | 'opossum'

/** One way of making the same call, measured against the others. */
export interface Contender {
  readonly id: string
  /** What runs, as it runs: the options that matter are in the label. */
  readonly label: string
  readonly library: Library
  /** Whether each call runs under a call timeout (one that never fires). */
  readonly withTimeout: boolean
  /** How many circuits the calls are spread over, one after the other. */
  readonly circuits: number
  /** Makes one call; resolves with the function's value. */
  readonly call: () => Promise<number>
  /** Stops anything the library keeps running (opossum's statistics interval). */
  readonly close: () => void
  /** Calls every circuit once before measuring, so no circuit's first store read is timed. */
  readonly prepare?: () => Promise<void>
}

/** What every contender calls: it resolves at once, so only the wrapping is measured. */
export const CALL_VALUE = 1
const downstream = async (): Promise<number> => CALL_VALUE
/** The same, reading the signal it is given, so the reference's controller is used. */
const downstreamWithSignal = async (signal: AbortSignal): Promise<number> => (signal.aborted ? 0 : CALL_VALUE)

/** The same, given a clock reading it checks, so the clock reference's read is used. */
const downstreamAt = async (reading: number): Promise<number> => (reading > 0 ? CALL_VALUE : 0)

/** Long enough never to fire: the timeout paths measure the cost of arming and clearing a deadline. */
export const CALL_TIMEOUT_MS = 1_000

/** Calls spread over many circuits: as many as a large service guards, each its own breaker. */
export const MANY_CIRCUITS = 10_000
/**
 * The many-circuit rows trust a view for ten minutes: spaced 1 ms apart, a call comes back to a
 * circuit every 10 s or more, past the default 5 s, and the store read that follows is the store's
 * cost (see the store-cost section), not the hot path's. Longer than a runtime's whole spaced
 * section: every circuit is warmed at the same moment, so a shorter trust would end for all of
 * them in the same round, which would then time 10,000 store reads.
 */
export const MANY_CIRCUITS_CACHE_TTL_MS = 600_000

/**
 * Brings every circuit to where a circuit in steady use is: its first call reads the store, its
 * second finds the view trusted and lets the calls that follow skip the decision. Measured rounds
 * then time that path on every circuit alike, not first calls in early rounds and later ones after.
 */
const warmAll = (breakers: readonly CircuitBreaker[]) => async (): Promise<void> => {
  for (const breaker of breakers) await breaker.execute(downstream)
  for (const breaker of breakers) await breaker.execute(downstream)
}

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
const nothingToClose = (): void => {}

/** Store operations every fleet-breaker contender has made, so the harness can tell which calls made one. */
let storeOperations = 0

/** How many store operations the fleet-breaker contenders have made so far. */
export const storeOperationCount = (): number => storeOperations

/** `store`, counting every method called on it (the hot lane calls none; a refresh after the view's trust ends does). */
function counted(store: MemoryStore): MemoryStore {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        storeOperations += 1
        return Reflect.apply(value, target, args)
      }
    },
  })
}

/** One store for every circuit of a contender, as one DynamoDB table serves a whole service. */
function fleetBreakers(prefix: string, count: number, callTimeoutMs?: number, cacheTtlMs?: number): CircuitBreaker[] {
  const store = counted(new MemoryStore())
  // Defaults otherwise: the local cache on (5 s), no concurrency limit, no fallback.
  return Array.from(
    { length: count },
    (_, index) =>
      new CircuitBreaker({
        circuitId: `${prefix}-${index}`,
        store,
        logger: quietLogger,
        ...(callTimeoutMs === undefined ? {} : { callTimeoutMs }),
        ...(cacheTtlMs === undefined ? {} : { cacheTtlMs }),
      }),
  )
}

function cockatielBreaker() {
  return circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) })
}

/** Cycles through `items`, one per call, so consecutive calls never reuse a warm circuit. */
function cycling<T>(items: readonly T[], call: (item: T) => Promise<number>): () => Promise<number> {
  if (items.length === 1) {
    const only = items[0] as T
    return () => call(only)
  }
  let next = 0
  return () => {
    const item = items[next] as T
    next = next + 1 === items.length ? 0 : next + 1
    return call(item)
  }
}

/** Which contenders to build. */
export interface ContenderSet {
  /** Paths without a call timeout (and opossum's defaults, which arm one). */
  readonly plain: boolean
  /** Paths with a call timeout. */
  readonly timeouts: boolean
  /** Also spread fleet-breaker's and cockatiel's calls over {@link MANY_CIRCUITS} circuits. */
  readonly manyCircuits: boolean
  /** Also the bare call plus one clock read (spaced calls: what a clock read costs after the loop idled). */
  readonly clockReference?: boolean
}

const bare: Contender = {
  id: 'bare',
  label: 'bare async call',
  library: 'bare',
  withTimeout: false,
  circuits: 1,
  call: downstream,
  close: nothingToClose,
}

/** The contenders of a measurement, each with its own breakers (and, for fleet-breaker, its own store). */
export function createContenders(set: ContenderSet): Contender[] {
  const contenders: Contender[] = [bare]
  const add = (contender: Contender) => contenders.push(contender)
  if (set.plain) {
    const fleet = fleetBreakers('hot-path', 1)
    add({
      id: 'fleet-breaker',
      label: 'fleet-breaker `execute`, defaults',
      library: 'fleet-breaker',
      withTimeout: false,
      circuits: 1,
      call: cycling(fleet, (breaker) => breaker.execute(downstream)),
      close: nothingToClose,
    })
    const cockatiel = cockatielBreaker()
    add({
      id: 'cockatiel',
      label: 'cockatiel `circuitBreaker`, `ConsecutiveBreaker(5)`',
      library: 'cockatiel',
      withTimeout: false,
      circuits: 1,
      call: () => cockatiel.execute(downstream),
      close: nothingToClose,
    })
    const opossum = new Opossum(downstream, { timeout: false })
    add({
      id: 'opossum-no-timeout',
      label: 'opossum `fire`, `timeout: false`',
      library: 'opossum',
      withTimeout: false,
      circuits: 1,
      call: () => opossum.fire(),
      close: () => opossum.shutdown(),
    })
    if (set.manyCircuits) {
      const many = fleetBreakers('hot-path-many', MANY_CIRCUITS, undefined, MANY_CIRCUITS_CACHE_TTL_MS)
      add({
        id: 'fleet-breaker-many',
        label: `fleet-breaker, ${MANY_CIRCUITS.toLocaleString('en-US')} circuits (\`cacheTtlMs: ${MANY_CIRCUITS_CACHE_TTL_MS}\`)`,
        prepare: warmAll(many),
        library: 'fleet-breaker',
        withTimeout: false,
        circuits: MANY_CIRCUITS,
        call: cycling(many, (breaker) => breaker.execute(downstream)),
        close: nothingToClose,
      })
      const cockatiels = Array.from({ length: MANY_CIRCUITS }, cockatielBreaker)
      add({
        id: 'cockatiel-many',
        label: `cockatiel, ${MANY_CIRCUITS.toLocaleString('en-US')} circuits`,
        library: 'cockatiel',
        withTimeout: false,
        circuits: MANY_CIRCUITS,
        call: cycling(cockatiels, (policy) => policy.execute(downstream)),
        close: nothingToClose,
      })
    }
  }
  if (set.clockReference === true) {
    add({
      id: 'clock-read',
      label: 'bare call + `Date.now()` (reference)',
      library: 'reference',
      withTimeout: false,
      circuits: 1,
      call: () => downstreamAt(Date.now()),
      close: nothingToClose,
    })
  }
  if (set.timeouts) {
    add({
      id: 'abort-controller',
      label: 'bare call + `new AbortController()` (reference)',
      library: 'reference',
      withTimeout: true,
      circuits: 1,
      call: () => downstreamWithSignal(new AbortController().signal),
      close: nothingToClose,
    })
    const fleet = fleetBreakers('hot-path-timeout', 1, CALL_TIMEOUT_MS)
    add({
      id: 'fleet-breaker-timeout',
      label: `fleet-breaker, \`callTimeoutMs: ${CALL_TIMEOUT_MS}\``,
      library: 'fleet-breaker',
      withTimeout: true,
      circuits: 1,
      call: cycling(fleet, (breaker) => breaker.execute(downstream)),
      close: nothingToClose,
    })
    if (set.manyCircuits) {
      const many = fleetBreakers('hot-path-timeout-many', MANY_CIRCUITS, CALL_TIMEOUT_MS, MANY_CIRCUITS_CACHE_TTL_MS)
      add({
        id: 'fleet-breaker-timeout-many',
        label: `fleet-breaker, \`callTimeoutMs: ${CALL_TIMEOUT_MS}\`, ${MANY_CIRCUITS.toLocaleString('en-US')} circuits (\`cacheTtlMs: ${MANY_CIRCUITS_CACHE_TTL_MS}\`)`,
        prepare: warmAll(many),
        library: 'fleet-breaker',
        withTimeout: true,
        circuits: MANY_CIRCUITS,
        call: cycling(many, (breaker) => breaker.execute(downstream)),
        close: nothingToClose,
      })
    }
    const cockatiel = wrap(timeout(CALL_TIMEOUT_MS, TimeoutStrategy.Cooperative), cockatielBreaker())
    add({
      id: 'cockatiel-timeout',
      label: `cockatiel, \`timeout(${CALL_TIMEOUT_MS}, Cooperative)\` + breaker`,
      library: 'cockatiel',
      withTimeout: true,
      circuits: 1,
      call: () => cockatiel.execute(downstream),
      close: nothingToClose,
    })
    const cockatielKeep = wrap(
      timeout(CALL_TIMEOUT_MS, { strategy: TimeoutStrategy.Cooperative, abortOnReturn: false }),
      cockatielBreaker(),
    )
    add({
      id: 'cockatiel-timeout-keep',
      label: `cockatiel, \`timeout(${CALL_TIMEOUT_MS}, { abortOnReturn: false })\` + breaker`,
      library: 'cockatiel',
      withTimeout: true,
      circuits: 1,
      call: () => cockatielKeep.execute(downstream),
      close: nothingToClose,
    })
    const opossum = new Opossum(downstream, { timeout: CALL_TIMEOUT_MS })
    add({
      id: 'opossum-timeout',
      label: `opossum, \`timeout: ${CALL_TIMEOUT_MS}\``,
      library: 'opossum',
      withTimeout: true,
      circuits: 1,
      call: () => opossum.fire(),
      close: () => opossum.shutdown(),
    })
    // opossum as it comes: its default options arm a 10 s timer on every call.
    const opossumDefaults = new Opossum(downstream)
    add({
      id: 'opossum-defaults',
      label: 'opossum `fire`, its defaults (`timeout: 10000`)',
      library: 'opossum',
      withTimeout: true,
      circuits: 1,
      call: () => opossumDefaults.fire(),
      close: () => opossumDefaults.shutdown(),
    })
  }
  return contenders
}

/**
 * Long enough that an opened circuit stays open for the whole measurement: the rejection rows time
 * the call an open circuit turns away, never a probe.
 */
const STAYS_OPEN_MS = 600_000

/** A downstream that fails as a real one does: the default classifiers count a 503. */
const failingDownstream = async (): Promise<number> => {
  throw Object.assign(new Error('downstream answered 503'), { statusCode: 503 })
}

/**
 * Makes a call that must be turned away: resolves with {@link CALL_VALUE} when it rejects as
 * `expected` says, with anything else otherwise, so the harness checks rejections as it checks values.
 */
function turnedAway(call: () => Promise<unknown>, expected: (error: unknown) => boolean): () => Promise<number> {
  const wrongValue = CALL_VALUE + 1
  return () =>
    call().then(
      () => wrongValue,
      (error: unknown) => (expected(error) ? CALL_VALUE : wrongValue),
    )
}

/** How many frames deep the "deep caller" rows call from: enough to fill V8's ten-frame stack trace. */
export const DEEP_CALLER_FRAMES = 10

/** `call`, made from {@link DEEP_CALLER_FRAMES} synchronous frames down, as from inside a framework. */
function fromDeepCaller(call: () => Promise<unknown>): () => Promise<unknown> {
  const descend = (frames: number): Promise<unknown> => (frames === 0 ? call() : descend(frames - 1))
  return () => descend(DEEP_CALLER_FRAMES)
}

/** A library's call that an open circuit turns away, and how to tell its error. */
interface Rejection {
  readonly id: string
  readonly label: string
  readonly library: Library
  readonly call: () => Promise<unknown>
  readonly expected: (error: unknown) => boolean
  readonly prepare?: () => Promise<void>
  readonly close?: () => void
}

/**
 * Calls an open circuit turns away, each library with its own open-circuit error, against a bare
 * call that rejects with a new `Error`: during an outage, the path every invocation takes. Each is
 * made from a shallow caller (an async handler after its first `await`) and from a deep one: V8
 * records up to ten frames of every error's stack, and walks each frame it skips to get there.
 */
export function createRejectionContenders(): Contender[] {
  const breaker = new CircuitBreaker({
    circuitId: 'rejected',
    store: new MemoryStore(),
    logger: quietLogger,
    failureThreshold: 1,
    resetTimeoutMs: STAYS_OPEN_MS,
  })
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: STAYS_OPEN_MS, breaker: new ConsecutiveBreaker(1) })
  const opossum = new Opossum(failingDownstream, { timeout: false, resetTimeout: STAYS_OPEN_MS })
  const rejections: Rejection[] = [
    {
      id: 'bare-rejected',
      label: 'bare async call that rejects with a new `Error`',
      library: 'bare',
      call: failingDownstream,
      expected: (error) => error instanceof Error,
    },
    {
      id: 'fleet-breaker-rejected',
      label: 'fleet-breaker `execute`, open circuit (`CircuitOpenError`)',
      library: 'fleet-breaker',
      prepare: async () => {
        await breaker.execute(failingDownstream).catch(() => undefined)
      },
      call: () => breaker.execute(failingDownstream),
      expected: isCircuitOpenError,
    },
    {
      id: 'cockatiel-rejected',
      label: 'cockatiel, open circuit (`BrokenCircuitError`)',
      library: 'cockatiel',
      prepare: async () => {
        await cockatiel.execute(failingDownstream).catch(() => undefined)
      },
      call: () => cockatiel.execute(failingDownstream),
      expected: isBrokenCircuitError,
    },
    {
      id: 'opossum-rejected',
      label: 'opossum `fire`, open circuit (`EOPENBREAKER`)',
      library: 'opossum',
      prepare: async () => {
        opossum.open()
      },
      call: () => opossum.fire(),
      expected: (error) => (error as { code?: unknown } | undefined)?.code === 'EOPENBREAKER',
      close: () => opossum.shutdown(),
    },
  ]
  const common = { withTimeout: false, circuits: 1 } as const
  const shallow = rejections.map(
    (rejection): Contender => ({
      ...common,
      id: rejection.id,
      label: rejection.label,
      library: rejection.library,
      call: turnedAway(rejection.call, rejection.expected),
      close: rejection.close ?? nothingToClose,
      ...(rejection.prepare === undefined ? {} : { prepare: rejection.prepare }),
    }),
  )
  // The same circuits, already open: only the caller's depth differs.
  const deep = rejections.map(
    (rejection): Contender => ({
      ...common,
      id: `${rejection.id}${DEEP_CALLER_SUFFIX}`,
      label: `${rejection.label}, from ${DEEP_CALLER_FRAMES} frames deep`,
      library: rejection.library,
      call: turnedAway(fromDeepCaller(rejection.call), rejection.expected),
      close: nothingToClose,
    }),
  )
  return [...shallow, ...deep]
}

/** What the id of a "deep caller" row ends with. */
export const DEEP_CALLER_SUFFIX = '-deep'

/** What one circuit of each library costs in memory: makes `count` circuits, each called once. */
export const circuitFactories: ReadonlyArray<{
  readonly library: Library
  readonly label: string
  /** Makes `count` circuits and calls each once; returns what keeps them alive and how to stop them. */
  readonly make: (count: number) => Promise<{ readonly keep: unknown; readonly close: () => void }>
}> = [
  {
    library: 'fleet-breaker',
    label: 'fleet-breaker (defaults, one shared `MemoryStore`)',
    make: async (count) => {
      const breakers = fleetBreakers(`memory-${Math.random()}`, count)
      for (const breaker of breakers) await breaker.execute(downstream)
      return { keep: breakers, close: nothingToClose }
    },
  },
  {
    library: 'cockatiel',
    label: 'cockatiel (`ConsecutiveBreaker(5)`)',
    make: async (count) => {
      const policies = Array.from({ length: count }, cockatielBreaker)
      for (const policy of policies) await policy.execute(downstream)
      return { keep: policies, close: nothingToClose }
    },
  },
  {
    library: 'opossum',
    label: 'opossum (`timeout: false`)',
    make: async (count) => {
      const breakers = Array.from({ length: count }, () => new Opossum(downstream, { timeout: false }))
      for (const breaker of breakers) await breaker.fire()
      return {
        keep: breakers,
        close: () => {
          for (const breaker of breakers) breaker.shutdown()
        },
      }
    },
  },
]
