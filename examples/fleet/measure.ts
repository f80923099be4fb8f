import type { DownstreamRequest } from './downstream.js'
import type { InvocationRecord, PhaseTimes, RequestRecord, TransitionRecord, WarningCount } from './records.js'
import type { BreakerSettings, StoreUsage } from './strategy.js'

/** Calls in one slice of the run's timeline. */
export interface TimelineBucket {
  /** Where the slice starts, in milliseconds since the run started. */
  readonly startMs: number
  /** Requests the downstream answered with 200. */
  readonly ok: number
  /** Requests the downstream answered with 503. */
  readonly failed: number
  /** Invocations the breaker turned away. */
  readonly rejected: number
}

/** What happened while the downstream was failing. Times are milliseconds after the outage began. */
export interface OutageMeasures {
  /** Requests that reached the failing downstream, probes included. */
  readonly downstreamCalls: number
  /** Probes among them (they failed). */
  readonly probes: number
  /** The first transition to OPEN any environment made. */
  readonly firstOpenMs: number | undefined
  /**
   * The last failed call that was not a probe: from then on the whole fleet stopped calling the
   * downstream, probes apart. With one shared state that is right after the circuit opens; with a
   * state per environment, when the last environment has counted its own failures.
   */
  readonly fleetOpenMs: number | undefined
  /** Environments that opened a circuit themselves (1 when the state is shared). */
  readonly environmentsTripped: number
}

/** What happened once the downstream was healthy again. Times are milliseconds after recovery. */
export interface RecoveryMeasures {
  /**
   * Probes that reached the recovered downstream. Told from the outage's by the answer, as the
   * downstream saw it: a probe sent a moment before recovery may arrive after it, and succeed.
   */
  readonly probes: number
  /** The first transition to CLOSED any environment made. */
  readonly firstClosedMs: number | undefined
  /** The last one (the same as the first when the state is shared). */
  readonly lastClosedMs: number | undefined
  /** Environments that closed a circuit themselves. */
  readonly environmentsClosed: number
  /** Environments whose breaker's last known state, at the end of the run, was not CLOSED. */
  readonly environmentsNotClosed: number
}

/** Store round trips of the whole fleet. */
export interface StoreMeasures extends StoreUsage {
  readonly readsPerInvocation: number
  readonly writesPerInvocation: number
}

/**
 * Everything one run measured.
 *
 * @example
 * ```ts
 * const result = await runFleet(sharedStoreStrategy(backend))
 * console.log(`${result.outage.downstreamCalls} calls reached the failing downstream`)
 * ```
 */
export interface FleetResult {
  /** The strategy's short name and its description. */
  readonly strategy: string
  readonly description: string
  readonly environments: number
  readonly seed: number
  readonly settings: BreakerSettings
  readonly phases: PhaseTimes
  readonly invocations: {
    readonly total: number
    readonly called: number
    readonly rejected: number
    /** Invocations in which the strategy itself failed; see `warnings`. */
    readonly errors: number
  }
  /** Requests the downstream received, in all and while failing. */
  readonly downstream: { readonly total: number; readonly duringOutage: number }
  readonly outage: OutageMeasures
  readonly recovery: RecoveryMeasures
  /** The most probe requests in flight at once, over the whole run. */
  readonly maxConcurrentProbes: number
  /** Round trips to the shared store; absent when every breaker keeps its state in memory. */
  readonly store: StoreMeasures | undefined
  /** State changes by kind (`'CLOSED->OPEN'`): made by an environment (`local`) or learned (`observed`). */
  readonly transitions: {
    readonly local: Readonly<Record<string, number>>
    readonly observed: Readonly<Record<string, number>>
  }
  /** Calls over time, in buckets of `timelineBucketMs`. */
  readonly timeline: readonly TimelineBucket[]
  /** What the breakers logged as warnings or errors, and strategy faults. */
  readonly warnings: readonly WarningCount[]
  /** The breakers' Count metrics summed over the fleet (`CircuitOpened`, ...), as CloudWatch would sum them. */
  readonly metrics?: Readonly<Record<string, number>>
}

/** Everything a run recorded, for {@link measureFleet}. */
export interface FleetRecording {
  readonly strategy: string
  readonly description: string
  readonly environments: number
  readonly seed: number
  readonly settings: BreakerSettings
  readonly phases: PhaseTimes
  readonly invocations: readonly InvocationRecord[]
  readonly downstream: readonly DownstreamRequest[]
  readonly transitions: readonly TransitionRecord[]
  /** Each environment's store usage, for the environments that report one. */
  readonly storeUsage: readonly StoreUsage[]
  readonly timelineBucketMs: number
  readonly warnings: readonly WarningCount[]
}

/**
 * Turns what a run recorded into its measures.
 *
 * @example
 * ```ts
 * const result = measureFleet(recording)
 * ```
 */
export function measureFleet(recording: FleetRecording): FleetResult {
  const { phases, invocations, transitions } = recording
  const local = transitions.filter((transition) => transition.origin === 'local')
  const probes = invocations.flatMap((invocation) =>
    invocation.probe && invocation.request !== undefined ? [invocation.request] : [],
  )
  const inOutage = (atMs: number) => atMs >= phases.outageStartedAtMs && atMs < phases.recoveredAtMs
  const opened = local.filter((t) => t.to === 'OPEN' && t.from === 'CLOSED' && t.atMs >= phases.outageStartedAtMs)
  const closed = local.filter((t) => t.to === 'CLOSED' && t.atMs >= phases.recoveredAtMs)
  // A 503 is the outage's answer; no answer at all counts when the request was sent during it.
  const failedDuringOutage = (request: RequestRecord) =>
    request.status === 503 || (request.status !== 200 && inOutage(request.startedAtMs))
  const unprotected = invocations.flatMap((invocation) =>
    !invocation.probe && invocation.request !== undefined && failedDuringOutage(invocation.request)
      ? [invocation.request.startedAtMs]
      : [],
  )
  const since = (start: number, times: readonly number[]) =>
    times.length === 0 ? undefined : Math.max(0, Math.min(...times) - start)
  const lastSince = (start: number, times: readonly number[]) =>
    times.length === 0 ? undefined : Math.max(0, Math.max(...times) - start)
  const called = invocations.filter((invocation) => invocation.outcome === 'called').length
  const rejected = invocations.filter((invocation) => invocation.outcome === 'rejected').length

  return {
    strategy: recording.strategy,
    description: recording.description,
    environments: recording.environments,
    seed: recording.seed,
    settings: recording.settings,
    phases,
    invocations: { total: invocations.length, called, rejected, errors: invocations.length - called - rejected },
    downstream: {
      total: recording.downstream.length,
      duringOutage: recording.downstream.filter((request) => request.duringOutage).length,
    },
    outage: {
      downstreamCalls: recording.downstream.filter((request) => request.duringOutage).length,
      probes: probes.filter((probe) => probe.status !== 200).length,
      firstOpenMs: since(
        phases.outageStartedAtMs,
        opened.map((t) => t.atMs),
      ),
      fleetOpenMs: lastSince(phases.outageStartedAtMs, unprotected),
      environmentsTripped: new Set(opened.map((t) => t.environment)).size,
    },
    recovery: {
      probes: probes.filter((probe) => probe.status === 200).length,
      firstClosedMs: since(
        phases.recoveredAtMs,
        closed.map((t) => t.atMs),
      ),
      lastClosedMs: lastSince(
        phases.recoveredAtMs,
        closed.map((t) => t.atMs),
      ),
      environmentsClosed: new Set(closed.map((t) => t.environment)).size,
      environmentsNotClosed: environmentsNotClosed(transitions),
    },
    maxConcurrentProbes: maxOverlap(probes),
    store: storeMeasures(recording.storeUsage, invocations.length),
    transitions: {
      local: countKinds(local),
      observed: countKinds(transitions.filter((transition) => transition.origin === 'observed')),
    },
    timeline: timeline(recording),
    warnings: recording.warnings,
  }
}

/**
 * The key a transition is counted under in {@link FleetResult.transitions}.
 *
 * @example
 * ```ts
 * transitionKind({ from: 'CLOSED', to: 'OPEN' }) // 'CLOSED->OPEN'
 * ```
 */
export function transitionKind(transition: { readonly from: string; readonly to: string }): string {
  return `${transition.from}->${transition.to}`
}

function countKinds(transitions: readonly TransitionRecord[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const transition of transitions) {
    const kind = transitionKind(transition)
    counts[kind] = (counts[kind] ?? 0) + 1
  }
  return counts
}

/** Environments whose latest reported state is not CLOSED (records arrive in time order). */
function environmentsNotClosed(transitions: readonly TransitionRecord[]): number {
  const latest = new Map<number, string>()
  for (const transition of transitions) latest.set(transition.environment, transition.to)
  return [...latest.values()].filter((state) => state !== 'CLOSED').length
}

/** The most intervals that overlap at any instant. */
function maxOverlap(intervals: readonly { readonly startedAtMs: number; readonly endedAtMs: number }[]): number {
  // Ends sort before starts at the same instant: a probe that ends as another begins is not concurrent.
  const edges = intervals
    .flatMap((interval) => [
      { at: interval.startedAtMs, delta: 1 },
      { at: interval.endedAtMs, delta: -1 },
    ])
    .sort((a, b) => a.at - b.at || a.delta - b.delta)
  let current = 0
  let most = 0
  for (const edge of edges) {
    current += edge.delta
    most = Math.max(most, current)
  }
  return most
}

function storeMeasures(usage: readonly StoreUsage[], invocations: number): StoreMeasures | undefined {
  if (usage.length === 0) return undefined
  const reads = usage.reduce((sum, each) => sum + each.reads, 0)
  const writes = usage.reduce((sum, each) => sum + each.writes, 0)
  const per = (count: number) => (invocations === 0 ? 0 : count / invocations)
  return { reads, writes, readsPerInvocation: per(reads), writesPerInvocation: per(writes) }
}

function timeline(recording: FleetRecording): TimelineBucket[] {
  const width = recording.timelineBucketMs
  const buckets = Array.from({ length: Math.max(1, Math.ceil(recording.phases.endedAtMs / width)) }, (_, index) => ({
    startMs: index * width,
    ok: 0,
    failed: 0,
    rejected: 0,
  }))
  const bucketAt = (atMs: number) => buckets[Math.min(buckets.length - 1, Math.max(0, Math.floor(atMs / width)))]
  for (const request of recording.downstream) {
    const bucket = bucketAt(request.atMs)
    if (bucket === undefined) continue
    if (request.status === 200) bucket.ok++
    else bucket.failed++
  }
  for (const invocation of recording.invocations) {
    const bucket = bucketAt(invocation.startedAtMs)
    if (bucket !== undefined && invocation.outcome === 'rejected') bucket.rejected++
  }
  return buckets
}
