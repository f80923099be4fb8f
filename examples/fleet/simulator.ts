import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Downstream, startDownstream } from './downstream.js'
import { type FleetResult, measureFleet } from './measure.js'
import { MetricTotals } from './metric-totals.js'
import { type FleetOptions, type Phase, type ResolvedFleetOptions, resolveFleetOptions } from './options.js'
import type { InvocationRecord, RequestRecord, TransitionRecord } from './records.js'
import { arrivalSchedule } from './schedule.js'
import type { DownstreamCall, EnvironmentCaller, FleetStrategy, TransitionReport } from './strategy.js'
import { WarningLog } from './warning-log.js'

/** Counts so far in a run, for progress displays. */
export interface RunningTotals {
  readonly invocations: number
  readonly rejected: number
  /** Requests that reached the downstream, and those it failed. */
  readonly downstreamCalls: number
  readonly failedDownstreamCalls: number
}

/**
 * What a run reports while it goes: its start, each phase as it begins, each state change, its end.
 * Times are milliseconds since the run started; `sincePhaseMs` since the current phase began.
 */
export type FleetProgress =
  | {
      readonly type: 'start'
      readonly strategy: string
      readonly description: string
      readonly environments: number
    }
  | {
      readonly type: 'phase'
      readonly strategy: string
      readonly phase: Phase
      readonly atMs: number
      readonly totals: RunningTotals
    }
  | {
      readonly type: 'transition'
      readonly strategy: string
      readonly phase: Phase
      readonly sincePhaseMs: number
      readonly transition: TransitionRecord
    }
  | { readonly type: 'finish'; readonly strategy: string; readonly atMs: number; readonly totals: RunningTotals }

/** Options of {@link runFleet}. */
export interface FleetRunOptions extends FleetOptions {
  /** Called as the run goes; what it throws is kept in the result's warnings, never breaks the run. */
  readonly onProgress?: (progress: FleetProgress) => void
}

/**
 * Runs a fleet of execution environments through a healthy phase, an outage of the downstream and
 * its recovery, every environment calling the downstream through the breaker `strategy` gives it,
 * and measures what reached the downstream. Closes `strategy` when done: a strategy serves one run.
 *
 * Each environment handles one invocation at a time, as a Lambda execution environment does, at
 * the times a seeded schedule gives (an invocation due while the previous one runs waits for it).
 *
 * @example
 * ```ts
 * const result = await runFleet(perEnvironmentStrategy(), { environments: 20, failureThreshold: 5, seed: 7 })
 * console.log(`${result.outage.downstreamCalls} calls reached the failing downstream`)
 * ```
 */
export async function runFleet(strategy: FleetStrategy, options: FleetRunOptions = {}): Promise<FleetResult> {
  const resolved = resolveFleetOptions(options)
  const run = new FleetRun(strategy, resolved, options.onProgress)
  try {
    return await run.execute()
  } finally {
    await run.close()
  }
}

/** The state of one run: its clock, downstream, environments and what they recorded. */
class FleetRun {
  readonly #strategy: FleetStrategy
  readonly #options: ResolvedFleetOptions
  readonly #onProgress: ((progress: FleetProgress) => void) | undefined
  readonly #warnings = new WarningLog()
  /** The metrics every environment's breaker emits, summed as CloudWatch would. */
  readonly #metrics = new MetricTotals()
  readonly #invocations: InvocationRecord[] = []
  readonly #transitions: TransitionRecord[] = []
  readonly #timers: NodeJS.Timeout[] = []
  #origin = performance.now()
  #phase: Phase = 'healthy'
  readonly #phaseStartedAt: Record<Phase, number> = { healthy: 0, outage: Number.NaN, recovered: Number.NaN }
  #downstream: Downstream | undefined
  #environments: EnvironmentCaller[] = []
  readonly #totals = { invocations: 0, rejected: 0, downstreamCalls: 0, failedDownstreamCalls: 0 }

  constructor(strategy: FleetStrategy, options: ResolvedFleetOptions, onProgress?: (progress: FleetProgress) => void) {
    this.#strategy = strategy
    this.#options = options
    this.#onProgress = onProgress
  }

  /** Milliseconds since the run started. */
  readonly #elapsed = (): number => performance.now() - this.#origin

  async execute(): Promise<FleetResult> {
    const { environments, seed, phases, invocationsPerSecond, downstreamLatencyMs } = this.#options
    this.#emit({
      type: 'start',
      strategy: this.#strategy.name,
      description: this.#strategy.description,
      environments,
    })
    const durationMs = phases.healthyMs + phases.outageMs + phases.recoveredMs
    const schedule = arrivalSchedule({ environments, seed, durationMs, invocationsPerSecond })
    const downstream = await startDownstream({ now: this.#elapsed, latencyMs: downstreamLatencyMs })
    this.#downstream = downstream
    this.#environments = await this.#createEnvironments()

    // The run's clock starts once every environment is ready, as a warm fleet would be.
    this.#origin = performance.now()
    this.#emitPhase('healthy')
    this.#at(phases.healthyMs, () => {
      downstream.fail()
      this.#enterPhase('outage')
    })
    this.#at(phases.healthyMs + phases.outageMs, () => {
      downstream.recover()
      this.#enterPhase('recovered')
    })
    await Promise.all(
      this.#environments.map((caller, index) => this.#runEnvironment(index, caller, schedule[index] ?? [])),
    )
    const remaining = durationMs - this.#elapsed()
    if (remaining > 0) await sleep(remaining)
    const endedAtMs = this.#elapsed()
    this.#emit({ type: 'finish', strategy: this.#strategy.name, atMs: endedAtMs, totals: { ...this.#totals } })

    const measures = measureFleet({
      strategy: this.#strategy.name,
      description: this.#strategy.description,
      environments,
      seed,
      settings: this.#options.breaker,
      phases: {
        outageStartedAtMs: this.#phaseStartedAt.outage,
        recoveredAtMs: this.#phaseStartedAt.recovered,
        endedAtMs,
      },
      invocations: this.#invocations,
      downstream: [...downstream.requests],
      transitions: this.#transitions,
      storeUsage: this.#environments.flatMap((caller) =>
        caller.storeUsage === undefined ? [] : [caller.storeUsage()],
      ),
      timelineBucketMs: this.#options.timelineBucketMs,
      warnings: this.#warnings.counts(),
    })
    return { ...measures, metrics: this.#metrics.totals() }
  }

  /** Closes environments, the strategy and the downstream, whatever state the run stopped in. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer)
    const environments = this.#environments
    this.#environments = []
    await Promise.allSettled(environments.map((caller) => caller.close()))
    await this.#strategy.close()
    await this.#downstream?.close()
  }

  /** Creates every environment; if one cannot be created, closes the others and fails. */
  async #createEnvironments(): Promise<EnvironmentCaller[]> {
    const { environments, breaker: settings } = this.#options
    const circuitId = `fleet-simulation-${randomUUID()}`
    const created = await Promise.allSettled(
      Array.from({ length: environments }, (_, index) =>
        this.#strategy.createEnvironment({
          index,
          circuitId,
          settings,
          logger: this.#warnings.logger,
          metrics: this.#metrics,
          onTransition: (transition) => this.#recordTransition(index, transition),
        }),
      ),
    )
    const callers = created.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
    const failure = created.find((outcome) => outcome.status === 'rejected')
    if (failure !== undefined) {
      await Promise.allSettled(callers.map((caller) => caller.close()))
      throw failure.reason
    }
    return callers
  }

  /** One environment: its invocations in order, each when due or when the previous one ends. */
  async #runEnvironment(index: number, caller: EnvironmentCaller, arrivals: readonly number[]): Promise<void> {
    for (const plannedAtMs of arrivals) {
      const wait = plannedAtMs - this.#elapsed()
      if (wait > 0) await sleep(wait)
      this.#invocations.push(await this.#invoke(index, caller, plannedAtMs))
    }
  }

  async #invoke(environment: number, caller: EnvironmentCaller, plannedAtMs: number): Promise<InvocationRecord> {
    const downstream = this.#downstream
    if (downstream === undefined) throw new Error('the downstream is not running')
    const startedAtMs = this.#elapsed()
    let request: RequestRecord | undefined
    const call: DownstreamCall = async (signal) => {
      const sentAtMs = this.#elapsed()
      try {
        const response = await fetch(downstream.url, { signal })
        // Read the body, so the connection is free for the environment's next invocation.
        await response.arrayBuffer()
        request = { startedAtMs: sentAtMs, endedAtMs: this.#elapsed(), status: response.status }
        return response
      } catch (error) {
        request = { startedAtMs: sentAtMs, endedAtMs: this.#elapsed(), status: 0 }
        throw error
      }
    }
    let outcome: InvocationRecord['outcome']
    let probe = false
    try {
      const report = await caller.call(call)
      outcome = report.outcome
      probe = report.probe
    } catch (error) {
      outcome = 'error'
      this.#warnings.add(`the strategy failed an invocation: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.#count(outcome, request)
    return {
      environment,
      plannedAtMs,
      startedAtMs,
      endedAtMs: this.#elapsed(),
      outcome,
      probe,
      ...(request === undefined ? {} : { request }),
    }
  }

  #count(outcome: InvocationRecord['outcome'], request: RequestRecord | undefined): void {
    const totals = this.#totals
    totals.invocations++
    if (outcome === 'rejected') totals.rejected++
    if (request !== undefined) {
      totals.downstreamCalls++
      if (request.status !== 200) totals.failedDownstreamCalls++
    }
  }

  #recordTransition(environment: number, report: TransitionReport): void {
    const transition: TransitionRecord = { ...report, environment, atMs: this.#elapsed() }
    this.#transitions.push(transition)
    this.#emit({
      type: 'transition',
      strategy: this.#strategy.name,
      phase: this.#phase,
      sincePhaseMs: transition.atMs - this.#phaseStartedAt[this.#phase],
      transition,
    })
  }

  /** Runs `action` `atMs` after the run started (at once if that time has passed). */
  #at(atMs: number, action: () => void): void {
    const wait = atMs - this.#elapsed()
    if (wait <= 0) action()
    else this.#timers.push(setTimeout(action, wait))
  }

  #enterPhase(phase: Phase): void {
    this.#phase = phase
    this.#phaseStartedAt[phase] = this.#elapsed()
    this.#emitPhase(phase)
  }

  #emitPhase(phase: Phase): void {
    this.#emit({
      type: 'phase',
      strategy: this.#strategy.name,
      phase,
      atMs: this.#phaseStartedAt[phase],
      totals: { ...this.#totals },
    })
  }

  #emit(progress: FleetProgress): void {
    try {
      this.#onProgress?.(progress)
    } catch (error) {
      this.#warnings.add(`the progress callback threw: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
}
