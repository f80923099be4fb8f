import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { FleetResult } from '../../../examples/fleet/measure.js'
import type { PhaseDurations } from '../../../examples/fleet/options.js'
import type { TransitionRecord, WarningCount } from '../../../examples/fleet/records.js'
import { type FleetRunOptions, runFleet } from '../../../examples/fleet/simulator.js'
import { StoreKind, startSharedStore } from '../../../examples/fleet/store-backend.js'
import { perEnvironmentStrategy, sharedStoreStrategy } from '../../../examples/fleet/strategies.js'
import type { FleetStrategy } from '../../../examples/fleet/strategy.js'
import { cockatielStrategy } from './cockatiel-strategy.js'
import { startNaiveBackend } from './naive-store.js'
import { type NaiveAudit, naiveSharedStrategy } from './naive-strategy.js'
import { opossumStrategy } from './opossum-strategy.js'

/** How often the lag monitor's timer runs, in milliseconds. */
const LAG_RESOLUTION_MS = 10

/** The breaker settings of every run: the same for every strategy. */
export const BREAKER = { failureThreshold: 5, resetTimeoutMs: 1_000, halfOpenMaxProbes: 1 } as const

/** The ways of protecting the downstream the suite compares. */
export const StrategyKind = {
  SHARED: 'shared',
  PER_ENVIRONMENT: 'per-environment',
  OPOSSUM: 'opossum',
  COCKATIEL: 'cockatiel',
  NAIVE: 'naive',
} as const
export type StrategyKind = (typeof StrategyKind)[keyof typeof StrategyKind]

const STRATEGY_LABELS: Readonly<Record<StrategyKind, string>> = {
  shared: 'fleet-breaker, shared',
  'per-environment': 'fleet-breaker, per environment',
  opossum: 'opossum, per environment',
  cockatiel: 'cockatiel, per environment',
  naive: 'naive shared',
}

/** One thing to measure: a strategy (on a store, when it shares one), a fleet size and a traffic rate. */
export interface Configuration {
  readonly strategy: StrategyKind
  /** Where the state is shared; only for `shared` and `naive`. */
  readonly store?: StoreKind
  readonly environments: number
  /** Mean invocations a second, per environment. */
  readonly invocationsPerSecond: number
  /** fleet-breaker's `cacheTtlMs` (how long a CLOSED view is trusted); absent: the breaker's default, 5 s. */
  readonly cacheTtlMs?: number
}

/**
 * How a configuration's strategy reads in tables: `'fleet-breaker, shared (dynamodb)'`.
 *
 * @example
 * ```ts
 * strategyLabel({ strategy: 'naive', store: 'redis', environments: 10, invocationsPerSecond: 5 }) // 'naive shared (redis)'
 * ```
 */
export function strategyLabel(configuration: Configuration): string {
  const { strategy, store, cacheTtlMs } = configuration
  const cache = cacheTtlMs === undefined ? '' : cacheTtlMs === 0 ? ', no cache' : `, cacheTtlMs ${cacheTtlMs}`
  const name = `${STRATEGY_LABELS[strategy]}${cache}`
  return store === undefined ? name : `${name} (${store})`
}

/**
 * A key that tells configurations apart, for grouping runs.
 *
 * @example
 * ```ts
 * configurationKey({ strategy: 'shared', store: 'memory', environments: 10, invocationsPerSecond: 5 }) // 'shared/memory/10/5/-'
 * ```
 */
export function configurationKey(configuration: Configuration): string {
  const { strategy, store, environments, invocationsPerSecond, cacheTtlMs } = configuration
  return `${strategy}/${store ?? '-'}/${environments}/${invocationsPerSecond}/${cacheTtlMs ?? '-'}`
}

/** Downstream calls in one slice of a run's timeline. */
export interface TimelinePoint {
  /** Where the slice starts, in milliseconds after the outage was due to start. */
  readonly sinceOutageMs: number
  /** Requests that reached the downstream (answered 200 or 503). */
  readonly calls: number
  /** Of those, the ones the failing downstream answered 503. */
  readonly failed: number
  /** Invocations the breakers turned away. */
  readonly rejected: number
}

/** What one run of one configuration measured. Times are in milliseconds. */
export interface RunFigures {
  readonly seed: number
  /** Wall time of the run, setup and teardown included. */
  readonly wallMs: number
  readonly invocations: number
  /** Requests that reached the downstream while it was failing, probes included. */
  readonly outageCalls: number
  /** Probes among them. */
  readonly outageProbes: number
  /** Requests that reached the failing downstream other than probes. */
  readonly leakedCalls: number
  /** After the outage began: the first transition to OPEN, and the last failed call that was not a probe. */
  readonly firstOpenMs: number | undefined
  readonly fleetOpenMs: number | undefined
  readonly environmentsTripped: number
  /** Probes that reached the downstream once it had recovered. */
  readonly recoveryProbes: number
  /** The most probes in flight at once, over the run. */
  readonly maxConcurrentProbes: number
  /** After recovery: the first and the last transition to CLOSED. */
  readonly firstClosedMs: number | undefined
  readonly lastClosedMs: number | undefined
  /** Environments that closed a circuit themselves after recovery. */
  readonly environmentsClosed: number
  /** Environments whose breaker was not CLOSED at the end of the run. */
  readonly environmentsNotClosed: number
  /** Store round trips of the whole fleet; absent when every breaker keeps its state in memory. */
  readonly store: FleetResult['store']
  /** Transitions the environments made themselves: one alert each. */
  readonly alerts: number
  readonly transitions: FleetResult['transitions']
  /**
   * Returns to CLOSED without a successful probe: transitions to CLOSED an environment made other
   * than HALF_OPEN->CLOSED after a successful probe once the downstream had recovered; for the
   * naive breaker, writes that turned the shared record from OPEN or HALF_OPEN to CLOSED without one.
   */
  readonly closesWithoutProbe: number
  /** What the naive breaker's blind writes did to the shared record. */
  readonly naive?: NaiveAudit
  /**
   * How far the run ended past its planned end: invocations that wait on a saturated store push
   * the schedule back. Near 0 unless the store (or the machine) was the bottleneck.
   */
  readonly overrunMs: number
  /**
   * The simulator's own lag: how late the event loop ran what was due (timers, arrivals, answers),
   * p50, p99 and max over the simulated phases, in milliseconds past when it was due. Invocations
   * start this late after their planned arrival at worst, so figures within it are about the
   * breaker, not the simulator.
   */
  readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number }
  /** Invocations in which the strategy itself failed. */
  readonly strategyErrors: number
  readonly warnings: readonly WarningCount[]
  /** Calls per 100 ms around the outage; kept for the charted configurations only. */
  readonly timeline?: readonly TimelinePoint[]
}

/** Options of {@link runConfiguration}. */
export interface RunOptions {
  readonly seed: number
  readonly phases: PhaseDurations
  readonly redisUrl?: string
  /** Keep the timeline (for the chart). */
  readonly keepTimeline: boolean
}

/**
 * Runs `configuration` once through the fleet simulator, starting and stopping its store.
 *
 * @example
 * ```ts
 * const figures = await runConfiguration(
 *   { strategy: 'shared', store: 'dynamodb', environments: 50, invocationsPerSecond: 5 },
 *   { seed: 1, phases: { healthyMs: 500, outageMs: 2_500, recoveredMs: 3_000 }, keepTimeline: false },
 * )
 * ```
 */
export async function runConfiguration(configuration: Configuration, options: RunOptions): Promise<RunFigures> {
  const started = performance.now()
  const transitions: TransitionRecord[] = []
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS })
  const fleetOptions: FleetRunOptions = {
    ...BREAKER,
    environments: configuration.environments,
    invocationsPerSecond: configuration.invocationsPerSecond,
    ...(configuration.cacheTtlMs === undefined ? {} : { cacheTtlMs: configuration.cacheTtlMs }),
    seed: options.seed,
    phases: options.phases,
    onProgress: (progress) => {
      if (progress.type === 'transition') transitions.push(progress.transition)
      // Only the simulated phases: starting the store and the environments, and closing them, are not the run.
      else if (progress.type === 'phase' && progress.phase === 'healthy') lag.enable()
      else if (progress.type === 'finish') lag.disable()
    },
  }
  const store = configuration.store ?? StoreKind.MEMORY
  let figures: Omit<RunFigures, 'loopDelayMs'>
  try {
    figures = await runStrategy(configuration, options, fleetOptions, store, transitions, started)
  } finally {
    lag.disable()
  }
  // The histogram records the time between its own timer's runs, the resolution included: lateness is what is over it.
  const late = (ns: number) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS)
  const loopDelayMs = { p50: late(lag.percentile(50)), p99: late(lag.percentile(99)), max: late(lag.max) }
  return { ...figures, loopDelayMs }
}

async function runStrategy(
  configuration: Configuration,
  options: RunOptions,
  fleetOptions: FleetRunOptions,
  store: StoreKind,
  transitions: TransitionRecord[],
  started: number,
): Promise<Omit<RunFigures, 'loopDelayMs'>> {
  let result: FleetResult
  let naive: NaiveAudit | undefined
  switch (configuration.strategy) {
    case StrategyKind.SHARED: {
      const backend = await startSharedStore(
        store,
        options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl },
      )
      try {
        result = await runFleet(sharedStoreStrategy(backend), fleetOptions)
      } finally {
        await backend.close()
      }
      break
    }
    case StrategyKind.NAIVE: {
      const backend = await startNaiveBackend(store, options.redisUrl)
      try {
        const strategy = naiveSharedStrategy(backend)
        result = await runFleet(strategy, fleetOptions)
        naive = strategy.audit()
      } finally {
        await backend.close()
      }
      break
    }
    default:
      result = await runFleet(inMemoryStrategy(configuration.strategy), fleetOptions)
  }
  return figuresOf(result, transitions, {
    wallMs: performance.now() - started,
    naive,
    phases: options.phases,
    keepTimeline: options.keepTimeline,
  })
}

function inMemoryStrategy(kind: StrategyKind): FleetStrategy {
  switch (kind) {
    case StrategyKind.OPOSSUM:
      return opossumStrategy()
    case StrategyKind.COCKATIEL:
      return cockatielStrategy()
    default:
      return perEnvironmentStrategy()
  }
}

function figuresOf(
  result: FleetResult,
  transitions: readonly TransitionRecord[],
  extra: { wallMs: number; naive: NaiveAudit | undefined; phases: PhaseDurations; keepTimeline: boolean },
): Omit<RunFigures, 'loopDelayMs'> {
  const { outage, recovery } = result
  const recoveredAtMs = result.phases.recoveredAtMs
  const unprobedCloses = transitions.filter(
    (t) =>
      t.origin === 'local' &&
      t.to === 'CLOSED' &&
      (t.from !== 'HALF_OPEN' || t.reason !== 'probe-succeeded' || t.atMs < recoveredAtMs),
  ).length
  const alerts = Object.values(result.transitions.local).reduce((sum, count) => sum + count, 0)
  return {
    seed: result.seed,
    wallMs: extra.wallMs,
    invocations: result.invocations.total,
    outageCalls: outage.downstreamCalls,
    outageProbes: outage.probes,
    leakedCalls: outage.downstreamCalls - outage.probes,
    firstOpenMs: outage.firstOpenMs,
    fleetOpenMs: outage.fleetOpenMs,
    environmentsTripped: outage.environmentsTripped,
    recoveryProbes: recovery.probes,
    maxConcurrentProbes: result.maxConcurrentProbes,
    firstClosedMs: recovery.firstClosedMs,
    lastClosedMs: recovery.lastClosedMs,
    environmentsClosed: recovery.environmentsClosed,
    environmentsNotClosed: recovery.environmentsNotClosed,
    store: result.store,
    alerts,
    transitions: result.transitions,
    closesWithoutProbe: extra.naive === undefined ? unprobedCloses : extra.naive.closedWithoutProbe + unprobedCloses,
    ...(extra.naive === undefined ? {} : { naive: extra.naive }),
    overrunMs: Math.max(
      0,
      result.phases.endedAtMs - (extra.phases.healthyMs + extra.phases.outageMs + extra.phases.recoveredMs),
    ),
    strategyErrors: result.invocations.errors,
    warnings: result.warnings,
    ...(extra.keepTimeline
      ? {
          timeline: result.timeline.map((bucket) => ({
            sinceOutageMs: bucket.startMs - extra.phases.healthyMs,
            calls: bucket.ok + bucket.failed,
            failed: bucket.failed,
            rejected: bucket.rejected,
          })),
        }
      : {}),
  }
}
