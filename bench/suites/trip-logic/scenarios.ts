/**
 * The trip-logic cases: when the circuit opens (and when it must not), what the rate mode writes,
 * and what the ramp after closing lets through. Each case is a breaker configuration, a downstream
 * and a moment when its trouble begins; `measureRun` turns a run into the figures the report uses.
 */
import type { BreakerSettings, Downstream, VirtualFleetOptions, VirtualRun } from './virtual-fleet.js'

/** Mean invocations a second per environment: the fleet simulator's default. */
export const INVOCATIONS_PER_SECOND = 5
/** How long a healthy call takes, in simulated milliseconds. */
export const HEALTHY_LATENCY_MS = 20

/** The count mode as the fleet suite runs it: 5 failures in a row. */
export const COUNT_MODE = { failureThreshold: 5, resetTimeoutMs: 5_000 } as const satisfies BreakerSettings

/** The failure-rate mode: half the fleet's calls in a 10 s window, once 20 were made. */
export const RATE_MODE = {
  failureRateThreshold: 0.5,
  minimumCalls: 20,
  rateWindowMs: 10_000,
  rateFlushIntervalMs: 1_000,
  resetTimeoutMs: 5_000,
} as const satisfies BreakerSettings

/** Share of calls that fail in the background and in the error burst. */
export const BACKGROUND_ERROR_RATE = 0.05
export const BURST_ERROR_RATE = 0.6
/** The slow downstream: every call takes this long, against a slow-call threshold of half of it. */
export const SLOW_LATENCY_MS = 400
export const SLOW_CALL_DURATION_MS = 200
export const SLOW_CALL_RATE_THRESHOLD = 0.5
/** The quorum in the one-failing-environment case. */
export const QUORUM = 3
/** The ramp after closing, and the width of the slices its effect is counted in. */
export const RAMP_UP_MS = 2_000
export const RAMP_BUCKET_MS = 250
/** The reset timeout of the cases that measure an opening: longer than the run, so no probe muddles the count. */
const NO_PROBE_RESET_MS = 60_000

/** The six questions the suite answers. */
export const Scenario = {
  BACKGROUND: 'background',
  BURST: 'burst',
  ONE_ENVIRONMENT: 'one-environment',
  SLOW: 'slow',
  HEALTHY_WRITES: 'healthy-writes',
  RAMP: 'ramp',
} as const
export type Scenario = (typeof Scenario)[keyof typeof Scenario]

/** What a mode of the suite runs. */
export interface Plan {
  readonly sizes: readonly number[]
  readonly seeds: readonly number[]
  /** Length of the 5 % background run. */
  readonly backgroundMs: number
  /**
   * Healthy lead-ins before the error burst in the rate mode: where in the rate window the errors
   * begin. The first one also leads in the count mode's burst and the slowdown.
   */
  readonly leadInsMs: readonly number[]
  /** How long the error burst and the slowdown last. */
  readonly troubleMs: number
  /** Length of the one-failing-environment run. */
  readonly oneEnvironmentMs: number
  /** Length of the healthy run whose writes are counted. */
  readonly healthyMs: number
  /** The ramp case: healthy, then every call failing, then healthy until well after the close. */
  readonly ramp: { readonly healthyMs: number; readonly outageMs: number; readonly durationMs: number }
  /** Slices counted after the close in the ramp case. */
  readonly rampBuckets: number
}

/**
 * The runs of a mode. Full: 50 and 200 environments, three seeds, a minute of background errors.
 * Quick (CI): 50 environments, one seed, shorter runs.
 *
 * @example
 * ```ts
 * const plan = planTripLogic({ quick: true })
 * ```
 */
export function planTripLogic(options: { readonly quick: boolean }): Plan {
  const { quick } = options
  return {
    sizes: quick ? [50] : [50, 200],
    seeds: quick ? [1] : [1, 2, 3],
    backgroundMs: quick ? 20_000 : 60_000,
    leadInsMs: [2_000, 8_000],
    troubleMs: quick ? 14_000 : 20_000,
    oneEnvironmentMs: quick ? 15_000 : 30_000,
    healthyMs: quick ? 10_000 : 30_000,
    ramp: { healthyMs: 1_000, outageMs: 2_000, durationMs: 10_000 },
    rampBuckets: 12,
  }
}

/** One configuration of one scenario. */
export interface Case {
  /** Unique among the cases: `'burst/rate/2000'`. */
  readonly id: string
  readonly scenario: Scenario
  /** The row's label in the report. */
  readonly label: string
  readonly breaker: BreakerSettings
  readonly durationMs: number
  /** When the trouble begins, in milliseconds since the run started (0: from the start). */
  readonly troubleAtMs: number
  readonly downstream: Downstream
}

const healthy: Downstream = () => ({ failed: false, latencyMs: HEALTHY_LATENCY_MS })

/**
 * Every case of a plan, in report order.
 *
 * @example
 * ```ts
 * for (const item of planCases(planTripLogic({ quick: true }))) console.log(item.id)
 * ```
 */
export function planCases(plan: Plan): Case[] {
  const [firstLeadInMs = 2_000] = plan.leadInsMs
  const background: Downstream = ({ random }) => ({
    failed: random() < BACKGROUND_ERROR_RATE,
    latencyMs: HEALTHY_LATENCY_MS,
  })
  const burst =
    (fromMs: number): Downstream =>
    ({ atMs, random }) => ({ failed: atMs >= fromMs && random() < BURST_ERROR_RATE, latencyMs: HEALTHY_LATENCY_MS })
  const slow: Downstream = ({ atMs }) => ({
    failed: false,
    latencyMs: atMs >= firstLeadInMs ? SLOW_LATENCY_MS : HEALTHY_LATENCY_MS,
  })
  const oneFailing: Downstream = ({ environment }) => ({ failed: environment === 0, latencyMs: HEALTHY_LATENCY_MS })
  const { healthyMs: rampHealthyMs, outageMs: rampOutageMs } = plan.ramp
  const outage: Downstream = ({ atMs }) => ({
    failed: atMs >= rampHealthyMs && atMs < rampHealthyMs + rampOutageMs,
    latencyMs: HEALTHY_LATENCY_MS,
  })
  return [
    {
      id: 'background/rate',
      scenario: Scenario.BACKGROUND,
      label: 'rate mode',
      breaker: RATE_MODE,
      durationMs: plan.backgroundMs,
      troubleAtMs: 0,
      downstream: background,
    },
    {
      id: 'background/count',
      scenario: Scenario.BACKGROUND,
      label: 'count mode',
      breaker: COUNT_MODE,
      durationMs: plan.backgroundMs,
      troubleAtMs: 0,
      downstream: background,
    },
    ...plan.leadInsMs.map(
      (leadInMs): Case => ({
        id: `burst/rate/${leadInMs}`,
        scenario: Scenario.BURST,
        label: `rate mode, errors from ${seconds(leadInMs)} into the window`,
        breaker: { ...RATE_MODE, resetTimeoutMs: NO_PROBE_RESET_MS },
        durationMs: leadInMs + plan.troubleMs,
        troubleAtMs: leadInMs,
        downstream: burst(leadInMs),
      }),
    ),
    {
      id: 'burst/count',
      scenario: Scenario.BURST,
      label: 'count mode',
      breaker: { ...COUNT_MODE, resetTimeoutMs: NO_PROBE_RESET_MS },
      durationMs: firstLeadInMs + plan.troubleMs,
      troubleAtMs: firstLeadInMs,
      downstream: burst(firstLeadInMs),
    },
    {
      id: `one-environment/quorum-${QUORUM}`,
      scenario: Scenario.ONE_ENVIRONMENT,
      label: `count mode, minEnvironments ${QUORUM}`,
      breaker: { ...COUNT_MODE, minEnvironments: QUORUM },
      durationMs: plan.oneEnvironmentMs,
      troubleAtMs: 0,
      downstream: oneFailing,
    },
    {
      id: 'one-environment/quorum-1',
      scenario: Scenario.ONE_ENVIRONMENT,
      label: 'count mode, minEnvironments 1',
      breaker: { ...COUNT_MODE, minEnvironments: 1 },
      durationMs: plan.oneEnvironmentMs,
      troubleAtMs: 0,
      downstream: oneFailing,
    },
    {
      id: 'slow/rate',
      scenario: Scenario.SLOW,
      label: `rate mode, slow calls from ${seconds(firstLeadInMs)} into the window`,
      breaker: {
        minimumCalls: RATE_MODE.minimumCalls,
        rateWindowMs: RATE_MODE.rateWindowMs,
        rateFlushIntervalMs: RATE_MODE.rateFlushIntervalMs,
        slowCallDurationMs: SLOW_CALL_DURATION_MS,
        slowCallRateThreshold: SLOW_CALL_RATE_THRESHOLD,
        resetTimeoutMs: NO_PROBE_RESET_MS,
      },
      durationMs: firstLeadInMs + plan.troubleMs,
      troubleAtMs: firstLeadInMs,
      downstream: slow,
    },
    {
      id: 'slow/count',
      scenario: Scenario.SLOW,
      label: 'count mode, slow calls counted as failures',
      breaker: { ...COUNT_MODE, slowCallDurationMs: SLOW_CALL_DURATION_MS, resetTimeoutMs: NO_PROBE_RESET_MS },
      durationMs: firstLeadInMs + plan.troubleMs,
      troubleAtMs: firstLeadInMs,
      downstream: slow,
    },
    {
      id: 'healthy-writes/count',
      scenario: Scenario.HEALTHY_WRITES,
      label: 'count mode',
      breaker: COUNT_MODE,
      durationMs: plan.healthyMs,
      troubleAtMs: 0,
      downstream: healthy,
    },
    {
      id: 'healthy-writes/rate',
      scenario: Scenario.HEALTHY_WRITES,
      label: 'rate mode',
      breaker: RATE_MODE,
      durationMs: plan.healthyMs,
      troubleAtMs: 0,
      downstream: healthy,
    },
    ...[0, RAMP_UP_MS].map(
      (rampUpMs): Case => ({
        id: `ramp/${rampUpMs}`,
        scenario: Scenario.RAMP,
        label: rampUpMs === 0 ? 'no ramp' : `rampUpMs ${rampUpMs}`,
        breaker: { ...COUNT_MODE, resetTimeoutMs: 1_000, rampUpMs },
        durationMs: plan.ramp.durationMs,
        troubleAtMs: rampHealthyMs,
        downstream: outage,
      }),
    ),
  ]
}

/** `2 s`, `0.5 s`. */
export const seconds = (ms: number): string => `${Number((ms / 1_000).toFixed(2))} s`

/** What one run of a case measured. */
export interface RunFigures {
  readonly seed: number
  readonly invocations: number
  /** Calls that reached the downstream, failed ones and probes among them. */
  readonly calls: number
  readonly failedCalls: number
  readonly probes: number
  /** Calls the breaker turned away, by reason (`open`, `probes-busy`, `ramping`). */
  readonly rejected: Readonly<Record<string, number>>
  /** Share of the calls made that failed. */
  readonly failureShare: number
  /** Times the shared circuit went from CLOSED to OPEN. */
  readonly opens: number
  /** The first opening, in milliseconds after the trouble began; undefined: it never opened. */
  readonly firstOpenMs: number | undefined
  /**
   * The last call (probes apart) that reached the downstream after the trouble began and before
   * the circuit first went half-open, in milliseconds after the trouble began: from then on the
   * fleet had stopped calling. Undefined when the circuit never opened.
   */
  readonly stoppedMs: number | undefined
  /** Calls (probes apart) from the trouble's start until the fleet stopped (or the run ended, if it never did). */
  readonly callsUntilStopped: number
  readonly failedUntilStopped: number
  /** Calls among those that took at least `slowCallDurationMs` (of the slow case). */
  readonly slowUntilStopped: number
  /** Store round trips per environment per second of the run, and the busiest environment's writes. */
  readonly readsPerEnvironmentSecond: number
  readonly writesPerEnvironmentSecond: number
  readonly maxWritesPerEnvironment: number
  readonly maxWritesPerEnvironmentSecond: number
  /** Calls of environments whose own calls all succeed that the breaker rejected. */
  readonly healthyRejected: number
  /** Calls the failing environment made (one-environment case); 0 elsewhere. */
  readonly failingEnvironmentCalls: number
  /** Ramp case: when the circuit first closed after the trouble (ms since it began), and the calls in each slice after. */
  readonly afterClose: { readonly closedAtMs: number; readonly buckets: readonly number[] } | undefined
  readonly warnings: number
  readonly wallMs: number
}

/**
 * The figures of one run of `item`.
 *
 * @example
 * ```ts
 * const figures = measureRun(item, run, 1, plan)
 * ```
 */
export function measureRun(item: Case, run: VirtualRun, seed: number, plan: Plan): RunFigures {
  const { troubleAtMs } = item
  const local = run.transitions.filter((transition) => transition.origin === 'local')
  const opens = local.filter((transition) => transition.from === 'CLOSED' && transition.to === 'OPEN')
  const firstOpen = opens.find((transition) => transition.atMs >= troubleAtMs)
  const halfOpenAt =
    firstOpen === undefined
      ? Number.POSITIVE_INFINITY
      : (local.find((transition) => transition.to === 'HALF_OPEN' && transition.atMs >= firstOpen.atMs)?.atMs ??
        Number.POSITIVE_INFINITY)
  const unprotected = run.calls.filter((call) => !call.probe && call.atMs >= troubleAtMs && call.atMs < halfOpenAt)
  const lastCall = unprotected.at(-1)
  const rejected: Record<string, number> = {}
  for (const rejection of run.rejections) rejected[rejection.reason] = (rejected[rejection.reason] ?? 0) + 1
  const failingEnvironments = item.scenario === Scenario.ONE_ENVIRONMENT ? new Set([0]) : new Set<number>()
  const runSeconds = run.durationMs / 1_000
  const writes = run.store.map((environment) => environment.writes)
  const reads = run.store.reduce((sum, environment) => sum + environment.reads, 0)
  const failedCalls = run.calls.filter((call) => call.failed).length
  return {
    seed,
    invocations: run.invocations,
    calls: run.calls.length,
    failedCalls,
    probes: run.calls.filter((call) => call.probe).length,
    rejected,
    failureShare: run.calls.length === 0 ? 0 : failedCalls / run.calls.length,
    opens: opens.length,
    firstOpenMs: firstOpen === undefined ? undefined : firstOpen.atMs - troubleAtMs,
    stoppedMs: firstOpen === undefined || lastCall === undefined ? undefined : lastCall.atMs - troubleAtMs,
    callsUntilStopped: unprotected.length,
    failedUntilStopped: unprotected.filter((call) => call.failed).length,
    slowUntilStopped: unprotected.filter((call) => call.latencyMs >= SLOW_CALL_DURATION_MS).length,
    readsPerEnvironmentSecond: reads / run.environments / runSeconds,
    writesPerEnvironmentSecond: writes.reduce((sum, count) => sum + count, 0) / run.environments / runSeconds,
    maxWritesPerEnvironment: Math.max(...writes),
    maxWritesPerEnvironmentSecond: Math.max(...writes) / runSeconds,
    healthyRejected: run.rejections.filter((rejection) => !failingEnvironments.has(rejection.environment)).length,
    failingEnvironmentCalls: run.calls.filter((call) => failingEnvironments.has(call.environment)).length,
    afterClose: item.scenario === Scenario.RAMP ? afterClose(run, troubleAtMs, plan.rampBuckets) : undefined,
    warnings: run.warnings,
    wallMs: run.wallMs,
  }
}

/** Calls per slice after the first close that followed the trouble (the probe that closed it apart). */
function afterClose(
  run: VirtualRun,
  troubleAtMs: number,
  count: number,
): { closedAtMs: number; buckets: number[] } | undefined {
  const closed = run.transitions.find(
    (transition) => transition.origin === 'local' && transition.to === 'CLOSED' && transition.atMs >= troubleAtMs,
  )
  if (closed === undefined) return undefined
  const buckets = Array.from({ length: count }, () => 0)
  for (const call of run.calls) {
    if (call.probe) continue
    const slice = Math.floor((call.atMs - closed.atMs) / RAMP_BUCKET_MS)
    if (slice >= 0 && slice < count) buckets[slice] = (buckets[slice] ?? 0) + 1
  }
  return { closedAtMs: closed.atMs - troubleAtMs, buckets }
}

/**
 * The fleet options of one run of `item`.
 *
 * @example
 * ```ts
 * const run = await runVirtualFleet(fleetOptions(item, 50, 1))
 * ```
 */
export function fleetOptions(item: Case, environments: number, seed: number): VirtualFleetOptions {
  return {
    environments,
    seed,
    durationMs: item.durationMs,
    invocationsPerSecond: INVOCATIONS_PER_SECOND,
    breaker: item.breaker,
    downstream: item.downstream,
  }
}
