import { table } from '../../lib/markdown.js'
import { median } from '../../lib/stats.js'
import type { TargetCheck } from '../../lib/suite.js'
import { secondsCell, summaryCell } from '../fleet/summary.js'
import {
  BACKGROUND_ERROR_RATE,
  BURST_ERROR_RATE,
  type Case,
  COUNT_MODE,
  HEALTHY_LATENCY_MS,
  INVOCATIONS_PER_SECOND,
  type Plan,
  QUORUM,
  RAMP_BUCKET_MS,
  RAMP_UP_MS,
  RATE_MODE,
  type RunFigures,
  Scenario,
  SLOW_CALL_DURATION_MS,
  SLOW_CALL_RATE_THRESHOLD,
  SLOW_LATENCY_MS,
  seconds,
} from './scenarios.js'

/** A case at one fleet size, and its runs (one per seed). */
export interface CaseResult {
  readonly item: Case
  readonly environments: number
  readonly runs: readonly RunFigures[]
}

/** What the report is made from. */
export interface TripLogicReportInput {
  readonly plan: Plan
  readonly results: readonly CaseResult[]
  /** Runs that failed, in words. */
  readonly failures: readonly string[]
  readonly wallMs: number
}

const of = (results: readonly CaseResult[], scenario: Scenario) =>
  results.filter((result) => result.item.scenario === scenario)
const find = (results: readonly CaseResult[], id: string, environments: number) =>
  results.find((result) => result.item.id === id && result.environments === environments)
const values = (result: CaseResult, value: (run: RunFigures) => number | undefined) => result.runs.map(value)
const count = (result: CaseResult, value: (run: RunFigures) => number | undefined) => summaryCell(values(result, value))
const secondsOf = (result: CaseResult, value: (run: RunFigures) => number | undefined) =>
  secondsCell(values(result, value))
const rate = (result: CaseResult, value: (run: RunFigures) => number) =>
  summaryCell(values(result, value), { digits: 2 })
const medianOf = (result: CaseResult | undefined, value: (run: RunFigures) => number | undefined) => {
  const defined = (result?.runs ?? []).flatMap((run) => {
    const figure = value(run)
    return figure === undefined ? [] : [figure]
  })
  return defined.length === 0 ? undefined : median(defined)
}
const rejectedTotal = (run: RunFigures) => Object.values(run.rejected).reduce((sum, each) => sum + each, 0)
/** Seconds with two decimals, or `never`. */
const secondsText = (ms: number | undefined) => (ms === undefined ? 'never' : `${(ms / 1_000).toFixed(2)} s`)
const countText = (value: number | undefined) => (value === undefined ? 'n/a' : String(Math.round(value)))

/** Calls a slice carries at the steady rate of `environments`. */
const steadySlice = (environments: number) => (environments * INVOCATIONS_PER_SECOND * RAMP_BUCKET_MS) / 1_000

/**
 * The section's Markdown: method, one table per question, interpretation.
 *
 * @example
 * ```ts
 * const markdown = tripLogicMarkdown({ plan, results, failures: [], wallMs })
 * ```
 */
export function tripLogicMarkdown(input: TripLogicReportInput): string {
  const { plan, results } = input
  return [
    method(input),
    '',
    '### Background errors',
    '',
    `${BACKGROUND_ERROR_RATE * 100} % of calls fail, at random, for ${seconds(plan.backgroundMs)}. Openings: times ` +
      'the shared circuit went from CLOSED to OPEN; rejected: calls the breaker turned away.',
    '',
    backgroundTable(of(results, Scenario.BACKGROUND)),
    '',
    '### An error burst',
    '',
    `After a healthy lead-in, ${BURST_ERROR_RATE * 100} % of calls fail, at random, for ${seconds(plan.troubleMs)}. ` +
      'Times are since the errors began: opened, when the circuit opened; stopped, the last call (probes apart) ' +
      'that reached the downstream before the circuit went half-open, so from then on the fleet had stopped ' +
      'calling. Calls until stopped: every call (probes apart) from the start of the errors to then, and the ' +
      'failed ones among them. The count mode runs with a 2 s lead-in.',
    '',
    troubleTable(of(results, Scenario.BURST), 'Failed', (run) => run.failedUntilStopped),
    '',
    '### One failing environment',
    '',
    `Environment 0 fails every call; the other environments' calls all succeed, for ${seconds(plan.oneEnvironmentMs)}. ` +
      "Rejected healthy calls: calls of the healthy environments the breaker turned away, the cost of letting one environment's " +
      'trouble open the circuit for everyone.',
    '',
    oneEnvironmentTable(of(results, Scenario.ONE_ENVIRONMENT)),
    '',
    '### A slow downstream',
    '',
    `After a healthy lead-in of ${seconds(plan.leadInsMs[0] ?? 0)}, every call succeeds but takes ${SLOW_LATENCY_MS} ms ` +
      `(\`slowCallDurationMs: ${SLOW_CALL_DURATION_MS}\`), for ${seconds(plan.troubleMs)}. Columns as for the error burst; ` +
      'slow: calls that took at least `slowCallDurationMs`.',
    '',
    troubleTable(of(results, Scenario.SLOW), 'Slow', (run) => run.slowUntilStopped),
    '',
    '### Store writes while healthy',
    '',
    `Every call succeeds, for ${seconds(plan.healthyMs)}. Store round trips per environment per second of the run ` +
      '(reads are `get`, writes everything else, counted by `InstrumentedStore`), the mean over the environments and ' +
      `the busiest one. The rate mode's bound: one write per \`rateFlushIntervalMs\` (${RATE_MODE.rateFlushIntervalMs} ms).`,
    '',
    writesTable(of(results, Scenario.HEALTHY_WRITES)),
    '',
    '### Calls after closing',
    '',
    `Healthy for ${seconds(plan.ramp.healthyMs)}, then every call fails for ${seconds(plan.ramp.outageMs)}, then healthy: ` +
      'the count mode opens (`resetTimeoutMs: 1000`), a probe fails during the outage (the reset timeout doubles), ' +
      'the next one succeeds and ' +
      `closes the circuit. Calls (probes apart) that reached the downstream in each ${RAMP_BUCKET_MS} ms after the close, ` +
      `without a ramp and with \`rampUpMs: ${RAMP_UP_MS}\`; at the steady rate a slice carries ` +
      `${plan.sizes.map((size) => `${steadySlice(size)} calls (${size} environments)`).join(', ')}. Closed: ` +
      'since the outage began.',
    '',
    rampTable(of(results, Scenario.RAMP), plan),
    '',
    '### Interpretation',
    '',
    interpretation(input),
    ...(input.failures.length === 0 ? [] : ['', '### Runs that failed', '', ...input.failures.map((f) => `- ${f}`)]),
  ].join('\n')
}

function method(input: TripLogicReportInput): string {
  const { plan } = input
  const runs = input.results.reduce((sum, result) => sum + result.runs.length, 0)
  const lag = Math.max(0, ...input.results.flatMap((result) => result.runs.map((run) => run.wallMs)))
  return [
    '### Method',
    '',
    `A fleet of ${plan.sizes.join(' and ')} execution environments on a simulated clock ` +
      '(`bench/suites/trip-logic/virtual-fleet.ts`): each environment has its own `CircuitBreaker` with its own ' +
      '`environmentId`, over one shared `MemoryStore` wrapped per environment in `InstrumentedStore` to count its ' +
      'round trips. Invocations arrive as in the fleet simulator (`examples/fleet/schedule.ts`: Poisson arrivals, ' +
      `mean ${INVOCATIONS_PER_SECOND} a second per environment, one at a time per environment); each call takes ` +
      `${HEALTHY_LATENCY_MS} ms of simulated time unless the case slows it down, and fails as the case says. Events run ` +
      "in time order, each to completion (store operations included) before the clock moves on, and the breaker's " +
      '`now` is that clock: there are no timers, so no timer lag enters the figures, and the same seed gives the ' +
      'same figures on any machine. Store operations take no simulated time (the fleet suite measures real stores). ' +
      (plan.seeds.length === 1
        ? `Seed ${plan.seeds[0]}.`
        : `Seeds ${plan.seeds.join(', ')}; cells are medians over the seeds, with the spread (min–max) in brackets.`),
    '',
    `- **count mode**: \`failureThreshold: ${COUNT_MODE.failureThreshold}\` (failures in a row within \`failureWindowMs\`, ` +
      `default 60 s), \`resetTimeoutMs: ${COUNT_MODE.resetTimeoutMs}\`.`,
    `- **rate mode**: \`failureRateThreshold: ${RATE_MODE.failureRateThreshold}\`, \`minimumCalls: ${RATE_MODE.minimumCalls}\`, ` +
      `\`rateWindowMs: ${RATE_MODE.rateWindowMs}\`, \`rateFlushIntervalMs: ${RATE_MODE.rateFlushIntervalMs}\`, ` +
      `\`resetTimeoutMs: ${RATE_MODE.resetTimeoutMs}\`; for the slow downstream \`slowCallRateThreshold: ${SLOW_CALL_RATE_THRESHOLD}\` ` +
      `and \`slowCallDurationMs: ${SLOW_CALL_DURATION_MS}\` instead of \`failureRateThreshold\`. The rate window starts ` +
      'with its first counted call and lasts `rateWindowMs`; the first counts written after it start a new one.',
    '- Every other option at its default (`cacheTtlMs` 5 s, one probe at a time). The error-burst and slow cases ' +
      'use a 60 s reset timeout, longer than the run, so that no probe mixes into the calls counted until the fleet stopped.',
    '',
    `${runs} runs took ${(input.wallMs / 1_000).toFixed(1)} s on this machine (the longest ${(lag / 1_000).toFixed(1)} s); ` +
      'only that wall time depends on the machine.',
  ].join('\n')
}

const label = (result: CaseResult) => result.item.label

function backgroundTable(results: readonly CaseResult[]): string {
  return table(
    ['Environments', 'Mode', 'Calls', 'Failed (%)', 'Openings', 'First opened after (s)', 'Rejected'],
    results.map((result) => [
      result.environments,
      label(result),
      count(result, (run) => run.calls),
      summaryCell(
        values(result, (run) => run.failureShare * 100),
        { digits: 1 },
      ),
      count(result, (run) => run.opens),
      secondsOf(result, (run) => run.firstOpenMs),
      count(result, rejectedTotal),
    ]),
  )
}

function troubleTable(
  results: readonly CaseResult[],
  troubledHeader: string,
  troubled: (run: RunFigures) => number,
): string {
  return table(
    ['Environments', 'Mode', 'Opened after (s)', 'Fleet stopped after (s)', 'Calls until stopped', troubledHeader],
    results.map((result) => [
      result.environments,
      label(result),
      secondsOf(result, (run) => run.firstOpenMs),
      secondsOf(result, (run) => run.stoppedMs),
      count(result, (run) => run.callsUntilStopped),
      count(result, troubled),
    ]),
  )
}

function oneEnvironmentTable(results: readonly CaseResult[]): string {
  return table(
    [
      'Environments',
      'Configuration',
      'Openings',
      'First opened after (s)',
      'Rejected healthy calls',
      "Failing environment's calls (all failed)",
    ],
    results.map((result) => [
      result.environments,
      label(result),
      count(result, (run) => run.opens),
      secondsOf(result, (run) => run.firstOpenMs),
      count(result, (run) => run.healthyRejected),
      count(result, (run) => run.failingEnvironmentCalls),
    ]),
  )
}

function writesTable(results: readonly CaseResult[]): string {
  return table(
    [
      'Environments',
      'Mode',
      'Writes / environment / s',
      'Busiest environment: writes / s',
      'Reads / environment / s',
      'Invocations / environment / s',
    ],
    results.map((result) => [
      result.environments,
      label(result),
      rate(result, (run) => run.writesPerEnvironmentSecond),
      rate(result, (run) => run.maxWritesPerEnvironmentSecond),
      rate(result, (run) => run.readsPerEnvironmentSecond),
      rate(result, (run) => run.invocations / result.environments / (result.item.durationMs / 1_000)),
    ]),
  )
}

function rampTable(results: readonly CaseResult[], plan: Plan): string {
  const slices = Array.from({ length: plan.rampBuckets }, (_, index) => {
    const from = (index * RAMP_BUCKET_MS) / 1_000
    return `${from}–${from + RAMP_BUCKET_MS / 1_000}`
  })
  const perSecond = 1_000 / RAMP_BUCKET_MS
  return table(
    ['Environments', 'Ramp', 'Closed after (s)', ...slices.map((slice) => `${slice} s`), 'First second', 'Ramping'],
    results.map((result) => [
      result.environments,
      label(result),
      secondsOf(result, (run) => run.afterClose?.closedAtMs),
      ...slices.map((_, index) => countText(medianOf(result, (run) => run.afterClose?.buckets[index]))),
      count(result, (run) => firstSecond(run, perSecond)),
      count(result, (run) => run.rejected.ramping ?? 0),
    ]),
  )
}

/** Calls in the first second after the close; undefined when the circuit did not close. */
const firstSecond = (run: RunFigures, slicesPerSecond = 1_000 / RAMP_BUCKET_MS): number | undefined =>
  run.afterClose?.buckets.slice(0, slicesPerSecond).reduce((sum, calls) => sum + calls, 0)

/** How long an environment at the base rate waits in a ramp before its shares add up to one call. */
function firstRampCallMs(): number {
  // Shares k / (rate × ramp) for its k-th call add up to one after about √(2 × rate × ramp) calls.
  const calls = Math.sqrt((2 * INVOCATIONS_PER_SECOND * RAMP_UP_MS) / 1_000)
  return (calls / INVOCATIONS_PER_SECOND) * 1_000
}

function interpretation(input: TripLogicReportInput): string {
  const { plan, results } = input
  const size = plan.sizes[0] ?? 50
  const largest = plan.sizes.at(-1) ?? size
  const at = (id: string, environments = size) => find(results, id, environments)
  const atLargest = (id: string, value: (run: RunFigures) => number) =>
    largest === size ? '' : `; ${countText(medianOf(at(id, largest), value))} at ${largest}`
  const [early = 2_000, late = 8_000] = plan.leadInsMs
  const theta = RATE_MODE.failureRateThreshold
  const worstMs = (RATE_MODE.rateWindowMs * theta) / BURST_ERROR_RATE
  const sentences = [
    `At ${BACKGROUND_ERROR_RATE * 100} % background errors the rate mode opened ` +
      `${countText(medianOf(at('background/rate'), (run) => run.opens))} times in ${seconds(plan.backgroundMs)} ` +
      `(${size} environments${atLargest('background/rate', (run) => run.opens)}), ` +
      `while the count mode, ${COUNT_MODE.failureThreshold} failures in a row, opened ` +
      `${countText(medianOf(at('background/count'), (run) => run.opens))} times` +
      `${largest === size ? '' : ` (${countText(medianOf(at('background/count', largest), (run) => run.opens))} at ${largest})`} and rejected ` +
      `${countText(medianOf(at('background/count'), rejectedTotal))} calls of a healthy service: a success clears only ` +
      'the failures its own environment has seen, so rare failures from different environments add up.',
    `Against ${BURST_ERROR_RATE * 100} % errors the count mode opened after ` +
      `${secondsText(medianOf(at('burst/count'), (run) => run.firstOpenMs))} and let ` +
      `${countText(medianOf(at('burst/count'), (run) => run.callsUntilStopped))} calls through; the rate mode after ` +
      `${secondsText(medianOf(at(`burst/rate/${early}`), (run) => run.firstOpenMs))} when the errors began ` +
      `${seconds(early)} into its window (${countText(medianOf(at(`burst/rate/${early}`), (run) => run.callsUntilStopped))} calls) ` +
      `and ${secondsText(medianOf(at(`burst/rate/${late}`), (run) => run.firstOpenMs))} when they began ${seconds(late)} in ` +
      `(${countText(medianOf(at(`burst/rate/${late}`), (run) => run.callsUntilStopped))} calls). The window is fixed, not ` +
      'sliding: the healthy calls already in it dilute the errors, and a share p of errors that begins L into a window ' +
      `reaches the threshold θ in that window only after L × θ / (p − θ) (${seconds((early * theta) / (BURST_ERROR_RATE - theta))} ` +
      `for L = ${seconds(early)}), so it often waits for the next window. The worst case is rateWindowMs × θ / p, ` +
      `${seconds(worstMs)} here and ${seconds((60_000 * theta) / BURST_ERROR_RATE)} with the default 60 s window: ` +
      'the rate mode trades reaction time for not opening on background noise, and `rateWindowMs` sets the trade.',
    `With one environment failing every call, \`minEnvironments: ${QUORUM}\` kept the circuit closed ` +
      `(${countText(medianOf(at(`one-environment/quorum-${QUORUM}`), (run) => run.opens))} openings, ` +
      `${countText(medianOf(at(`one-environment/quorum-${QUORUM}`), (run) => run.healthyRejected))} healthy calls rejected), ` +
      `while \`minEnvironments: 1\` opened it ${countText(medianOf(at('one-environment/quorum-1'), (run) => run.opens))} ` +
      `times in ${seconds(plan.oneEnvironmentMs)} (first after ` +
      `${secondsText(medianOf(at('one-environment/quorum-1'), (run) => run.firstOpenMs))}) and turned away ` +
      `${countText(medianOf(at('one-environment/quorum-1'), (run) => run.healthyRejected))} calls of healthy environments; ` +
      'after each reset timeout a probe closed it again (one environment in many fails, so the probe is almost always ' +
      "a healthy one's) and the failing environment opened it once more.",
    `A downstream turning slow (${SLOW_LATENCY_MS} ms a call) opened the rate mode after ` +
      `${secondsText(medianOf(at('slow/rate'), (run) => run.firstOpenMs))} ` +
      `(${countText(medianOf(at('slow/rate'), (run) => run.slowUntilStopped))} slow calls) and the count mode, where a ` +
      `slow call counts as a failure, after ${secondsText(medianOf(at('slow/count'), (run) => run.firstOpenMs))} ` +
      `(${countText(medianOf(at('slow/count'), (run) => run.slowUntilStopped))}); a call is known to be slow only when ` +
      `it ends, ${SLOW_LATENCY_MS} ms after it began, and the rate window dilutes slow calls as it dilutes errors.`,
    `While healthy the count mode wrote ${rateText(medianOf(at('healthy-writes/count'), (run) => run.writesPerEnvironmentSecond))} ` +
      'times per environment per second; the rate mode wrote ' +
      `${rateText(medianOf(at('healthy-writes/rate'), (run) => run.writesPerEnvironmentSecond))} ` +
      `(busiest environment ${rateText(medianOf(at('healthy-writes/rate'), (run) => run.maxWritesPerEnvironmentSecond))}), ` +
      `under its bound of one per ${seconds(RATE_MODE.rateFlushIntervalMs)}: a write is due with the first call after the ` +
      'interval, so it lands a little later than every second. Each write answers with the record, which refreshes the ' +
      `cached view, so the rate mode read the store ${rateText(medianOf(at('healthy-writes/rate'), (run) => run.readsPerEnvironmentSecond))} ` +
      `times per environment per second against the count mode's ` +
      `${rateText(medianOf(at('healthy-writes/count'), (run) => run.readsPerEnvironmentSecond))} (one read per \`cacheTtlMs\`).`,
    `In the first second after the circuit closed, ${countText(medianOf(at('ramp/0'), (run) => firstSecond(run)))} calls ` +
      `reached the recovered downstream without a ramp and ${countText(medianOf(at(`ramp/${RAMP_UP_MS}`), (run) => firstSecond(run)))} ` +
      `with \`rampUpMs: ${RAMP_UP_MS}\` (${size} environments); the ramp's slices rise towards the steady ` +
      `${steadySlice(size)} a slice and reach it at about ${seconds(RAMP_UP_MS)}. Each environment admits its share ` +
      'with a credit added per call, with no randomness, so at ' +
      `${INVOCATIONS_PER_SECOND} calls a second its first call of the ramp comes only once its shares add up to one, ` +
      `about ${seconds(Math.round(firstRampCallMs() / 100) * 100)} after the close: the first slices carry fewer calls than the ` +
      'share alone would give.',
  ]
  return sentences.join(' ')
}

const rateText = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(2))

/**
 * The targets: reported, never enforced.
 *
 * @example
 * ```ts
 * const checks = tripLogicChecks(results, plan)
 * ```
 */
export function tripLogicChecks(results: readonly CaseResult[], plan: Plan): TargetCheck[] {
  const every = (id: string) => results.filter((result) => result.item.id === id)
  const per = (id: string, describe: (run: RunFigures) => string) =>
    every(id)
      .map((result) => `${result.environments} envs: ${result.runs.map(describe).join(', ')}`)
      .join('; ')
  const all = (id: string, holds: (run: RunFigures) => boolean) =>
    every(id).length > 0 && every(id).every((result) => result.runs.length > 0 && result.runs.every(holds))
  const opened = (run: RunFigures) => secondsText(run.firstOpenMs)
  const window = RATE_MODE.rateWindowMs
  const burstIds = plan.leadInsMs.map((leadInMs) => `burst/rate/${leadInMs}`)
  const healthyBound = (run: RunFigures) =>
    run.maxWritesPerEnvironment <= 1 + Math.floor(plan.healthyMs / RATE_MODE.rateFlushIntervalMs)
  const rampHalves = plan.sizes.map((size) => {
    const ramped = medianOf(find(results, `ramp/${RAMP_UP_MS}`, size), (run) => firstSecond(run))
    const plain = medianOf(find(results, 'ramp/0', size), (run) => firstSecond(run))
    return { size, ramped, plain }
  })
  return [
    {
      target: `${BACKGROUND_ERROR_RATE * 100} % background errors, rate mode: the circuit never opens`,
      met: all('background/rate', (run) => run.opens === 0),
      detail: `openings: ${per('background/rate', (run) => String(run.opens))}`,
    },
    {
      target: `${BURST_ERROR_RATE * 100} % errors: the count mode opens, and the rate mode within one rate window (${seconds(window)})`,
      met:
        all('burst/count', (run) => run.firstOpenMs !== undefined) &&
        burstIds.every((id) => all(id, (run) => run.firstOpenMs !== undefined && run.firstOpenMs <= window)),
      detail: [
        `count mode ${per('burst/count', opened)}`,
        ...burstIds.map((id, index) => `rate mode, ${seconds(plan.leadInsMs[index] ?? 0)} in: ${per(id, opened)}`),
      ].join('; '),
    },
    {
      target: `one failing environment, minEnvironments ${QUORUM}: the circuit never opens`,
      met: all(`one-environment/quorum-${QUORUM}`, (run) => run.opens === 0),
      detail: `openings: ${per(`one-environment/quorum-${QUORUM}`, (run) => String(run.opens))}`,
    },
    {
      target: 'one failing environment, minEnvironments 1 (count mode): the circuit opens',
      met: all('one-environment/quorum-1', (run) => run.opens > 0),
      detail: `openings: ${per('one-environment/quorum-1', (run) => String(run.opens))}`,
    },
    {
      target: `a slow downstream: the rate mode opens on slow calls within one rate window (${seconds(window)})`,
      met: all('slow/rate', (run) => run.firstOpenMs !== undefined && run.firstOpenMs <= window),
      detail: `opened after ${per('slow/rate', opened)}`,
    },
    {
      target: 'healthy, count mode: no store writes',
      met: all('healthy-writes/count', (run) => run.writesPerEnvironmentSecond === 0),
      detail: `writes per environment per second: ${per('healthy-writes/count', (run) => run.writesPerEnvironmentSecond.toFixed(2))}`,
    },
    {
      target: `healthy, rate mode: no environment writes more than once per rateFlushIntervalMs (${RATE_MODE.rateFlushIntervalMs} ms)`,
      met: all('healthy-writes/rate', healthyBound),
      detail:
        `busiest environment: ${per('healthy-writes/rate', (run) => `${run.maxWritesPerEnvironment}`)} writes in ` +
        `${seconds(plan.healthyMs)} (bound ${1 + Math.floor(plan.healthyMs / RATE_MODE.rateFlushIntervalMs)}); mean ` +
        `${per('healthy-writes/rate', (run) => run.writesPerEnvironmentSecond.toFixed(2))} per environment per second`,
    },
    {
      target: `rampUpMs ${RAMP_UP_MS}: the first second after closing carries at most half the calls it carries without a ramp`,
      met: rampHalves.every(
        ({ ramped, plain }) => ramped !== undefined && plain !== undefined && plain > 0 && ramped <= plain / 2,
      ),
      detail: rampHalves
        .map(({ size, ramped, plain }) => `${size} envs: ${countText(ramped)} vs ${countText(plain)} calls`)
        .join('; '),
    },
    {
      target: 'the breakers log no warnings',
      met: results.every((result) => result.runs.every((run) => run.warnings === 0)),
      detail: `${results.reduce((sum, result) => sum + result.runs.reduce((total, run) => total + run.warnings, 0), 0)} warnings`,
    },
  ]
}

/**
 * One-line headline figures.
 *
 * @example
 * ```ts
 * const lines = tripLogicHeadlines(results, plan)
 * ```
 */
export function tripLogicHeadlines(results: readonly CaseResult[], plan: Plan): string[] {
  const size = plan.sizes[0] ?? 50
  const at = (id: string) => find(results, id, size)
  const [early = 2_000] = plan.leadInsMs
  return [
    `Trip logic, ${size} environments (simulated clock): ${BACKGROUND_ERROR_RATE * 100} % background errors opened the ` +
      `rate mode ${countText(medianOf(at('background/rate'), (run) => run.opens))} times in ${seconds(plan.backgroundMs)} ` +
      `(count mode, threshold ${COUNT_MODE.failureThreshold}: ${countText(medianOf(at('background/count'), (run) => run.opens))}); ` +
      `${BURST_ERROR_RATE * 100} % errors beginning ${seconds(early)} into its ${seconds(RATE_MODE.rateWindowMs)} window opened it after ` +
      `${secondsText(medianOf(at(`burst/rate/${early}`), (run) => run.firstOpenMs))} (count mode ` +
      `${secondsText(medianOf(at('burst/count'), (run) => run.firstOpenMs))}); one failing environment opened nothing with ` +
      `minEnvironments ${QUORUM}; healthy, the rate mode wrote ` +
      `${rateText(medianOf(at('healthy-writes/rate'), (run) => run.writesPerEnvironmentSecond))} times per environment per ` +
      `second (count mode 0); rampUpMs ${RAMP_UP_MS} cut the first second's calls after closing from ` +
      `${countText(medianOf(at('ramp/0'), (run) => firstSecond(run)))} to ` +
      `${countText(medianOf(at(`ramp/${RAMP_UP_MS}`), (run) => firstSecond(run)))}.`,
  ]
}
