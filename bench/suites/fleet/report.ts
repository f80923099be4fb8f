import { table } from '../../lib/markdown.js'
import { median } from '../../lib/stats.js'
import type { TargetCheck } from '../../lib/suite.js'
import { OPOSSUM_ERROR_PERCENTAGE, OPOSSUM_WINDOW_MS } from './opossum-strategy.js'
import { BASE_RATE, type Plan } from './plan.js'
import { BREAKER, type Configuration, type RunFigures, StrategyKind, strategyLabel } from './runs.js'
import { secondsCell, summaryCell } from './summary.js'

/** A configuration and its runs, one per seed. */
export interface ConfigurationResult {
  readonly configuration: Configuration
  readonly runs: readonly RunFigures[]
}

/** What the report is made from. */
export interface FleetReportInput {
  readonly plan: Plan
  readonly results: readonly ConfigurationResult[]
  /** Why Redis was left out, when it was. */
  readonly redisSkipped: string | undefined
  /** Runs that failed, in words. */
  readonly failures: readonly string[]
  readonly wallMs: number
  /** Where the chart is, relative to the repository root. */
  readonly chartPath: string
}

const STRATEGY_ORDER: readonly StrategyKind[] = [
  StrategyKind.SHARED,
  StrategyKind.PER_ENVIRONMENT,
  StrategyKind.OPOSSUM,
  StrategyKind.COCKATIEL,
  StrategyKind.NAIVE,
]
const STORE_ORDER = ['memory', 'dynamodb', 'redis']

/**
 * The simulator's lag (how late its event loop ran what was due, p99) up to which a run shows the
 * breakers rather than the machine: a quarter of the mean gap between one environment's
 * invocations at the base rate, a tenth of the store deadline.
 */
export const LAG_BUDGET_MS = 50

/** The worst p99 lag of a configuration's runs. */
const worstLagOf = (result: ConfigurationResult): number => Math.max(...result.runs.map((run) => run.loopDelayMs.p99))

const byConfiguration = (a: ConfigurationResult, b: ConfigurationResult): number => {
  const x = a.configuration
  const y = b.configuration
  return (
    x.environments - y.environments ||
    STRATEGY_ORDER.indexOf(x.strategy) - STRATEGY_ORDER.indexOf(y.strategy) ||
    STORE_ORDER.indexOf(x.store ?? '') - STORE_ORDER.indexOf(y.store ?? '') ||
    x.invocationsPerSecond - y.invocationsPerSecond ||
    (x.cacheTtlMs ?? -1) - (y.cacheTtlMs ?? -1)
  )
}

const atBaseRate = (result: ConfigurationResult) => result.configuration.invocationsPerSecond === BASE_RATE
/** At the base rate, with every setting at its default. */
const standard = (result: ConfigurationResult) => atBaseRate(result) && result.configuration.cacheTtlMs === undefined
const pick = <T>(result: ConfigurationResult, value: (run: RunFigures) => T): T[] => result.runs.map(value)
const medianOf = (result: ConfigurationResult, value: (run: RunFigures) => number): number =>
  median(pick(result, value))
const localKind = (run: RunFigures, kind: string): number => run.transitions.local[kind] ?? 0

/** fleet-breaker shared on DynamoDB reading the store on every invocation (`cacheTtlMs: 0`), at `environments`. */
function uncachedShared(
  results: readonly ConfigurationResult[],
  environments: number,
): ConfigurationResult | undefined {
  return results.find(
    ({ configuration }) =>
      configuration.strategy === StrategyKind.SHARED &&
      configuration.store === 'dynamodb' &&
      configuration.environments === environments &&
      configuration.invocationsPerSecond === BASE_RATE &&
      configuration.cacheTtlMs === 0,
  )
}

function find(
  results: readonly ConfigurationResult[],
  strategy: StrategyKind,
  environments: number,
  store?: string,
): ConfigurationResult | undefined {
  return results.find(
    (result) =>
      standard(result) &&
      result.configuration.strategy === strategy &&
      result.configuration.environments === environments &&
      (store === undefined || result.configuration.store === store),
  )
}

/**
 * The section's Markdown: method, tables, chart and interpretation.
 *
 * @example
 * ```ts
 * const markdown = fleetMarkdown({ plan, results, redisSkipped: undefined, failures: [], wallMs, chartPath })
 * ```
 */
export function fleetMarkdown(input: FleetReportInput): string {
  const { plan } = input
  const sorted = [...input.results].sort(byConfiguration)
  return [
    method(input),
    '### Outage and recovery',
    '',
    'Medians over the seeds, with the spread (min–max) in brackets. Times in seconds: the fleet ' +
      'stopped after the outage began; closed after the service recovered (first environment / last ' +
      'environment when each has its own circuit). Alerts: state changes an environment made itself ' +
      '(`origin: local`), one alert each.',
    '',
    outcomeTable(sorted.filter(atBaseRate)),
    '',
    '### What a shared state does under concurrency',
    '',
    'Both keep one circuit for the fleet; they differ in how they write it. Openings: how many times the ' +
      'shared record went from CLOSED to OPEN (one per outage is right). Failure counts lost: failures ' +
      "the naive breaker counted that another environment's blind write overwrote, told from the record " +
      'each write replaced (fleet-breaker increments the count atomically in the store, so it has nothing ' +
      'to lose). Closes without a successful probe: writes or transitions that took the circuit from OPEN ' +
      'or HALF_OPEN to CLOSED other than after a successful probe.',
    '',
    sharingTable(
      sorted.filter(
        (result) =>
          atBaseRate(result) &&
          (result.configuration.strategy === StrategyKind.SHARED ||
            result.configuration.strategy === StrategyKind.NAIVE),
      ),
    ),
    '',
    '### Scale of the work',
    '',
    `fleet-breaker writes the store when the circuit changes (a failure counted, a transition, a probe's ` +
      'lease), not per call: its writes follow the number of environments that saw a failure, and reads ' +
      'follow the CLOSED cache (one read per environment per cache period while healthy). The rows at ' +
      `${2 * BASE_RATE} invocations a second per environment double the traffic at ${plan.variantEnvironments} environments.`,
    '',
    scaleTable(
      sorted.filter(
        (result) =>
          result.configuration.strategy === StrategyKind.SHARED ||
          (result.configuration.strategy === StrategyKind.NAIVE && result.configuration.store === 'dynamodb'),
      ),
    ),
    '',
    '### Downstream calls over time',
    '',
    `![Downstream calls during the outage](${input.chartPath})`,
    '',
    `${plan.chartEnvironments} environments; the shared strategies on DynamoDB. Each line is the median, slice ` +
      `by slice, over the ${plan.seeds.length === 1 ? 'run' : `${plan.seeds.length} seeds`}; 100 ms slices, placed by ` +
      'when the outage was due to start.',
    '',
    '### Interpretation',
    '',
    interpretation(sorted, plan),
    ...(input.failures.length === 0 ? [] : ['', '### Runs that failed', '', ...input.failures.map((f) => `- ${f}`)]),
  ].join('\n')
}

function method(input: FleetReportInput): string {
  const { plan } = input
  const { healthyMs, outageMs, recoveredMs } = plan.phases
  const stores = input.redisSkipped === undefined ? 'memory, DynamoDB and Redis' : 'memory and DynamoDB'
  return [
    '### Method',
    '',
    `The fleet simulator (\`examples/fleet\`) runs ${plan.sizes.join(', ')} execution environments, each handling ` +
      `one invocation at a time at Poisson arrivals (mean ${BASE_RATE} a second per environment), every invocation ` +
      'calling a local HTTP service through the strategy under test. Phases: healthy ' +
      `${healthyMs} ms, outage ${outageMs} ms (every request answered 503), recovered ${recoveredMs} ms. ` +
      `Every breaker: threshold ${BREAKER.failureThreshold} failures in a row, reset timeout ${BREAKER.resetTimeoutMs} ms, ` +
      `${BREAKER.halfOpenMaxProbes} probe at a time where the library has such a setting. Seeds ` +
      `${plan.seeds.join(', ')}: the same seed gives every strategy the same invocations; configurations run ` +
      `interleaved, one at a time, each on a fresh store. Stores: ${stores} ` +
      '(DynamoDB is an embedded dynalite in a worker thread; memory is one map in the process).' +
      (input.redisSkipped === undefined ? '' : ` Redis rows are left out: ${input.redisSkipped}`),
    '',
    "- **fleet-breaker, shared**: the simulator's `sharedStoreStrategy`: one circuit in the shared store, " +
      'conditional writes, atomic failure counts, probe leases, backoff after a failed probe (doubling), a ' +
      'CLOSED view cached for up to 5 s (the default).',
    `- **fleet-breaker, shared, no cache**: the same with \`cacheTtlMs: 0\`, at ${plan.variantEnvironments} ` +
      'environments on DynamoDB: every invocation reads the store, as the naive design does.',
    "- **fleet-breaker, per environment**: the simulator's `perEnvironmentStrategy`: the same breaker with a " +
      'memory store of its own in each environment, which is what any in-memory breaker gives on Lambda.',
    `- **opossum, per environment**: \`new CircuitBreaker(call, { errorThresholdPercentage: ${OPOSSUM_ERROR_PERCENTAGE}, ` +
      `volumeThreshold: ${BREAKER.failureThreshold}, rollingCountTimeout: ${OPOSSUM_WINDOW_MS}, rollingCountBuckets: 10, ` +
      `resetTimeout: ${BREAKER.resetTimeoutMs} })\` in each environment. opossum counts a share of failures in a ` +
      'rolling window, not failures in a row; these settings open it when the last second held at least ' +
      `${BREAKER.failureThreshold} calls and every one failed, which at this rate is about ${BREAKER.failureThreshold} ` +
      'failures in a row (a little later when arrivals spread out). No backoff: it half-opens on a timer ' +
      'every reset timeout and lets one call through; that call is counted as its probe.',
    `- **cockatiel, per environment**: \`circuitBreaker(handleAll, { breaker: new ConsecutiveBreaker(${BREAKER.failureThreshold}), ` +
      `halfOpenAfter: ${BREAKER.resetTimeoutMs} })\` in each environment. No backoff; the first call after the ` +
      'reset timeout is let through as the probe (observed as the call made while the policy is half-open).',
    '- **naive shared**: the design most write-ups of a shared-state breaker describe, written for this ' +
      'benchmark (`bench/suites/fleet/naive-strategy.ts`): every call reads the whole record ' +
      '`{ state, failures, openedAt }` (DynamoDB `GetItem`, Redis `GET`), decides, calls, and writes the whole ' +
      'record back when it changed (`PutItem` / `SET`, no condition: the last writer wins). Once the reset ' +
      'timeout has passed the environment that notices writes HALF_OPEN, and while the record says HALF_OPEN ' +
      'every call goes through as a probe. No backoff. Its writes return the record they replaced ' +
      '(`ReturnValues: ALL_OLD`, `SET … GET`) for the audit below; the breaker never looks at it.',
    '',
    'Measures (from the simulator): calls to the failing service are requests the downstream received ' +
      'while failing, probes included; the fleet stopped at the last failed call that was not a probe; ' +
      'probes on recovery are probes the recovered service answered 200; store reads and writes are round ' +
      `trips of all environments, divided by invocations. The suite took ${(input.wallMs / 60_000).toFixed(1)} min.`,
    '',
  ].join('\n')
}

function closedCell(result: ConfigurationResult): string {
  const several = result.runs.some((run) => run.environmentsClosed > 1)
  const first = secondsCell(pick(result, (run) => run.firstClosedMs))
  const cell = several ? `${first} / ${secondsCell(pick(result, (run) => run.lastClosedMs))}` : first
  const notClosed = pick(result, (run) => run.environmentsNotClosed)
  return Math.max(...notClosed) === 0 ? cell : `${cell}; not closed at the end: ${summaryCell(notClosed)} environments`
}

function storeCell(result: ConfigurationResult): string {
  if (result.runs.some((run) => run.store === undefined)) return 'none (in memory)'
  const reads = summaryCell(
    pick(result, (run) => run.store?.readsPerInvocation),
    { digits: 3 },
  )
  const writes = summaryCell(
    pick(result, (run) => run.store?.writesPerInvocation),
    { digits: 3 },
  )
  return `${reads} / ${writes}`
}

function outcomeTable(results: readonly ConfigurationResult[]): string {
  return table(
    [
      'Environments',
      'Strategy',
      'Calls to the failing service',
      'of them probes',
      'Fleet stopped after (s)',
      'Environments that opened a circuit',
      'Probes on recovery',
      'Closed after recovery (s)',
      'Store reads / writes per invocation',
      'Alerts',
    ],
    results.map((result) => [
      result.configuration.environments,
      strategyLabel(result.configuration),
      summaryCell(pick(result, (run) => run.outageCalls)),
      summaryCell(pick(result, (run) => run.outageProbes)),
      secondsCell(pick(result, (run) => run.fleetOpenMs)),
      summaryCell(pick(result, (run) => run.environmentsTripped)),
      summaryCell(pick(result, (run) => run.recoveryProbes)),
      closedCell(result),
      storeCell(result),
      summaryCell(pick(result, (run) => run.alerts)),
    ]),
  )
}

function sharingTable(results: readonly ConfigurationResult[]): string {
  const byDesign = '0 by design (atomic count)'
  return table(
    [
      'Environments',
      'Strategy',
      'First opened after (s)',
      'Failures written before it opened',
      'Openings',
      'Environments that alerted "opened"',
      'Failure counts lost',
      'Closes without a successful probe',
      'Probes on recovery',
      'Most probes in flight at once',
      'Store round trip, mean / max (ms)',
    ],
    results.map((result) => {
      const naive = result.configuration.strategy === StrategyKind.NAIVE
      return [
        result.configuration.environments,
        strategyLabel(result.configuration),
        secondsCell(pick(result, (run) => run.firstOpenMs)),
        naive
          ? summaryCell(pick(result, (run) => (run.naive?.opened === 0 ? undefined : run.naive?.failuresToOpen)))
          : `${BREAKER.failureThreshold} by design (atomic count)`,
        summaryCell(pick(result, (run) => (naive ? run.naive?.opened : localKind(run, 'CLOSED->OPEN')))),
        summaryCell(pick(result, (run) => run.environmentsTripped)),
        naive ? summaryCell(pick(result, (run) => run.naive?.lostFailures)) : byDesign,
        summaryCell(pick(result, (run) => run.closesWithoutProbe)),
        summaryCell(pick(result, (run) => run.recoveryProbes)),
        summaryCell(pick(result, (run) => run.maxConcurrentProbes)),
        naive
          ? `${summaryCell(
              pick(result, (run) => run.naive?.meanRoundTripMs),
              { digits: 1 },
            )} / ` +
            summaryCell(
              pick(result, (run) => run.naive?.maxRoundTripMs),
              { digits: 1 },
            )
          : 'not measured',
      ]
    }),
  )
}

function scaleTable(results: readonly ConfigurationResult[]): string {
  return table(
    [
      'Strategy',
      'Environments',
      'Invocations a second (fleet)',
      'Invocations',
      'Calls to the failing service',
      'Store reads',
      'Store writes',
      'Writes per environment',
      'Reads per invocation',
      'Writes per invocation',
    ],
    results.map((result) => {
      const { environments, invocationsPerSecond } = result.configuration
      return [
        strategyLabel(result.configuration),
        environments,
        environments * invocationsPerSecond,
        summaryCell(pick(result, (run) => run.invocations)),
        summaryCell(pick(result, (run) => run.outageCalls)),
        summaryCell(pick(result, (run) => run.store?.reads)),
        summaryCell(pick(result, (run) => run.store?.writes)),
        summaryCell(
          pick(result, (run) => (run.store === undefined ? undefined : run.store.writes / environments)),
          { digits: 1 },
        ),
        summaryCell(
          pick(result, (run) => run.store?.readsPerInvocation),
          { digits: 3 },
        ),
        summaryCell(
          pick(result, (run) => run.store?.writesPerInvocation),
          { digits: 3 },
        ),
      ]
    }),
  )
}

function interpretation(results: readonly ConfigurationResult[], plan: Plan): string {
  const sentences: string[] = []
  const largest = Math.max(...plan.sizes)
  const calls = (result: ConfigurationResult | undefined) =>
    result === undefined ? undefined : medianOf(result, (run) => run.outageCalls)
  const shared = find(results, StrategyKind.SHARED, largest, 'dynamodb')
  const own = find(results, StrategyKind.PER_ENVIRONMENT, largest)
  const sharedCalls = calls(shared)
  const ownCalls = calls(own)
  if (sharedCalls !== undefined && ownCalls !== undefined) {
    sentences.push(
      `At ${largest} environments the shared circuit let ${sharedCalls} calls reach the failing service (on ` +
        `DynamoDB), a breaker per environment ${ownCalls}: each environment has to see ${BREAKER.failureThreshold} ` +
        'failures of its own before it stops, and keeps probing on its own schedule, so the per-environment ' +
        'figures grow with the fleet, threshold times environments and a probe per environment per reset timeout.',
    )
  }
  if (shared !== undefined) {
    sentences.push(
      `With one shared state an environment that trusts a cached CLOSED view makes at most one more call after ` +
        `the circuit opens, which bounds the calls at about threshold + environments ` +
        `(${BREAKER.failureThreshold} + ${largest} here); the fleet has stopped once every environment has made ` +
        'its next call, which is why that takes longer with more environments (the latest of their next ' +
        `arrivals); probes that reached the recovered service: ` +
        `${summaryCell(pick(shared, (run) => run.recoveryProbes))} for the whole fleet.`,
    )
  }
  const uncached = uncachedShared(results, plan.chartEnvironments)
  const naiveAtChart = find(results, StrategyKind.NAIVE, plan.chartEnvironments, 'dynamodb')
  if (uncached !== undefined && naiveAtChart !== undefined) {
    sentences.push(
      `With no CLOSED cache (\`cacheTtlMs: 0\`) fleet-breaker reads the store on every invocation, as the naive ` +
        `design does; at ${plan.chartEnvironments} environments on DynamoDB it then let ` +
        `${summaryCell(pick(uncached, (run) => run.outageCalls))} calls through against the naive breaker's ` +
        `${summaryCell(pick(naiveAtChart, (run) => run.outageCalls))}, with probes on recovery ` +
        `${summaryCell(pick(uncached, (run) => run.recoveryProbes))} against ` +
        `${summaryCell(pick(naiveAtChart, (run) => run.recoveryProbes))}: the cache trades up to one call per ` +
        'environment for far fewer reads.',
    )
  }
  const naiveRuns = results.filter(
    (result) =>
      atBaseRate(result) &&
      result.configuration.strategy === StrategyKind.NAIVE &&
      result.configuration.environments === largest,
  )
  if (naiveRuns.length > 0) {
    const described = naiveRuns.map((result) => {
      const of = (value: (run: RunFigures) => number) => medianOf(result, value)
      return (
        `on ${result.configuration.store}, ${of((run) => run.naive?.lostFailures ?? 0)} of ` +
        `${of((run) => run.naive?.failureWrites ?? 0)} failure counts lost to overwrites, ` +
        `openings of the record ${of((run) => run.naive?.opened ?? 0)}, ` +
        `closes without a probe ${of((run) => run.closesWithoutProbe)}, ` +
        `probes on recovery ${of((run) => run.recoveryProbes)} (at once ${of((run) => run.maxConcurrentProbes)})`
      )
    })
    sentences.push(
      `The naive shared breaker at ${largest} environments (medians): ${described.join('; ')}. Its one read per ` +
        "invocation makes it stop calling sooner than fleet-breaker's cached CLOSED view where the store is fast, " +
        'but the blind writes lose the failure count, so it opens late, and every environment that reads HALF_OPEN ' +
        'sends a probe.',
    )
  }
  const worstLag = results.reduce<ConfigurationResult | undefined>(
    (worst, result) => (worst === undefined || worstLagOf(result) > worstLagOf(worst) ? result : worst),
    undefined,
  )
  if (worstLag !== undefined) {
    const maxOf = (result: ConfigurationResult) => Math.max(...result.runs.map((run) => run.loopDelayMs.max))
    const lagged = results.filter((result) => worstLagOf(result) > LAG_BUDGET_MS)
    const overBudget =
      lagged.length === 0
        ? `Every run kept it within ${LAG_BUDGET_MS} ms at p99.`
        : `Over ${LAG_BUDGET_MS} ms at p99 the simulator ran late, and its embedded store with it, so these runs ` +
          "cannot tell the breaker's behaviour from the machine's; their targets are reported as they came out, " +
          `not excused: ${lagged
            .map(
              (result) =>
                `${strategyLabel(result.configuration)} at ${result.configuration.environments} ` +
                `(${summaryCell(pick(result, (run) => run.loopDelayMs.p99))} ms)`,
            )
            .join('; ')}.`
    sentences.push(
      "The simulator's own lag (how late the event loop ran what was due, measured with `monitorEventLoopDelay` over the simulated phases, its 10 ms sampling interval taken off): " +
        `p99 at most ${worstLagOf(worstLag).toFixed(1)} ms in any run (${strategyLabel(worstLag.configuration)} at ` +
        `${worstLag.configuration.environments} environments, whose worst single delay was ${maxOf(worstLag).toFixed(0)} ms); ` +
        `across every run the median p99 was ${medianOf({ ...worstLag, runs: results.flatMap((result) => result.runs) }, (run) => run.loopDelayMs.p99).toFixed(1)} ms. ` +
        `${overBudget} ` +
        'Arrivals are a Poisson process per environment (not waves), so the lag is what delays an arrival, not a burst.',
    )
  }
  const overrun = results.filter((result) => medianOf(result, (run) => run.overrunMs) >= 500)
  if (overrun.length > 0) {
    sentences.push(
      `Runs that went past their schedule (${overrun
        .map(
          (result) =>
            `${strategyLabel(result.configuration)} at ${result.configuration.environments}: ` +
            `${(medianOf(result, (run) => run.overrunMs) / 1_000).toFixed(1)} s`,
        )
        .join('; ')}) waited on their store: there the store's queue, not the breaker, set the timings.`,
    )
  }
  const scale = results.filter(
    (result) =>
      result.configuration.strategy === StrategyKind.SHARED &&
      result.configuration.store === 'dynamodb' &&
      standard(result),
  )
  if (scale.length > 1) {
    const perEnvironment = scale.map(
      (result) =>
        `${medianOf(result, (run) => (run.store?.writes ?? 0) / result.configuration.environments).toFixed(1)} at ${result.configuration.environments}`,
    )
    sentences.push(
      `fleet-breaker's store writes per environment stay flat as the fleet grows (${perEnvironment.join(', ')} ` +
        'environments, on DynamoDB): they follow the environments that meet the outage, not the calls they make.',
    )
  }
  const doubled = results.find(
    (result) =>
      result.configuration.strategy === StrategyKind.SHARED &&
      result.configuration.store === 'dynamodb' &&
      result.configuration.invocationsPerSecond === 2 * BASE_RATE,
  )
  const single =
    doubled === undefined
      ? undefined
      : find(results, StrategyKind.SHARED, doubled.configuration.environments, 'dynamodb')
  if (doubled !== undefined && single !== undefined) {
    const writes = (result: ConfigurationResult) => medianOf(result, (run) => run.store?.writes ?? 0)
    const invocations = (result: ConfigurationResult) => medianOf(result, (run) => run.invocations)
    const perInvocation = (result: ConfigurationResult) =>
      medianOf(result, (run) => run.store?.writesPerInvocation ?? 0).toFixed(3)
    sentences.push(
      `Doubling the traffic at ${single.configuration.environments} environments took invocations from ` +
        `${invocations(single)} to ${invocations(doubled)} and store writes from ${writes(single)} to ${writes(doubled)}, ` +
        `so writes per invocation went from ${perInvocation(single)} to ${perInvocation(doubled)}.`,
    )
  }
  const sharedRuns = results
    .filter((result) => result.configuration.strategy === StrategyKind.SHARED)
    .flatMap((result) => result.runs)
  const extraProbes = sharedRuns.filter((run) => run.recoveryProbes > BREAKER.halfOpenMaxProbes)
  if (extraProbes.length > 0) {
    const overlapping = Math.max(...extraProbes.map((run) => run.maxConcurrentProbes))
    sentences.push(
      `In ${extraProbes.length} of ${sharedRuns.length} fleet-breaker shared runs a second probe reached the ` +
        `recovered service (most in flight at once: ${overlapping}). Recording a probe's success takes two store ` +
        'round trips, `completeProbe` (which frees the lease and counts the success) and then the transition to ' +
        'CLOSED; an environment that asks for a probe slot in between finds the circuit still HALF_OPEN with a ' +
        'free slot, and probes again.',
    )
  }
  const opossum = find(results, StrategyKind.OPOSSUM, largest)
  if (opossum !== undefined) {
    const untripped = largest - medianOf(opossum, (run) => run.environmentsTripped)
    if (untripped > 0) {
      sentences.push(
        `opossum's window rule left ${untripped} of ${largest} environments (median) without opening during the ` +
          `outage: their calls never filled the one-second window with ${BREAKER.failureThreshold} failures, so ` +
          'they kept calling the failing service until it recovered.',
      )
    }
  }
  const withoutDynalite = results.some((result) => result.configuration.store === 'redis')
    ? 'the memory and Redis rows'
    : 'the memory rows'
  sentences.push(
    'The embedded dynalite applies writes to one item one after another, so with many environments its queue, ' +
      `not DynamoDB, sets part of the timings on that store; ${withoutDynalite} show the breakers without it. ` +
      'opossum and cockatiel have no backoff, so each environment probes the failing service once per reset ' +
      'timeout for as long as the outage lasts.',
  )
  return sentences.join(' ')
}

/**
 * The targets of fleet-breaker's shared runs, per store: informational, never thrown.
 *
 * @example
 * ```ts
 * const checks = fleetChecks(results)
 * ```
 */
export function fleetChecks(results: readonly ConfigurationResult[]): TargetCheck[] {
  const shared = [...results]
    .filter((result) => result.configuration.strategy === StrategyKind.SHARED)
    .sort(byConfiguration)
  const stores = STORE_ORDER.filter((store) => shared.some((result) => result.configuration.store === store))
  return stores.flatMap((store) => {
    const mine = shared.filter((result) => result.configuration.store === store)
    const name = ({ configuration }: ConfigurationResult) =>
      `${configuration.environments} envs` +
      (configuration.invocationsPerSecond === BASE_RATE ? '' : ` at ${configuration.invocationsPerSecond}/s`) +
      (configuration.cacheTtlMs === undefined ? '' : `, cacheTtlMs ${configuration.cacheTtlMs}`)
    const runsOf = (result: ConfigurationResult) => pick(result, (run) => run)
    const leaked = mine.map((result) => {
      const bound = BREAKER.failureThreshold + result.configuration.environments
      const worst = Math.max(...pick(result, (run) => run.leakedCalls))
      return { met: worst <= bound, detail: `${name(result)}: at most ${worst} ≤ ${bound}` }
    })
    const probes = mine.map((result) => {
      const counts = pick(result, (run) => run.recoveryProbes)
      return {
        met: counts.every((count) => count === BREAKER.halfOpenMaxProbes),
        detail: `${name(result)}: ${counts.join(', ')}`,
      }
    })
    const closes = mine.map((result) => {
      const runs = runsOf(result)
      const bad = runs.reduce((sum, run) => sum + run.closesWithoutProbe, 0)
      const good = runs.reduce((sum, run) => sum + localKind(run, 'HALF_OPEN->CLOSED'), 0)
      const direct = runs.reduce((sum, run) => sum + localKind(run, 'OPEN->CLOSED'), 0)
      return {
        met: bad === 0 && direct === 0,
        detail: `${name(result)}: ${good} HALF_OPEN->CLOSED after a successful probe, ${bad} otherwise`,
      }
    })
    const check = (target: string, parts: ReadonlyArray<{ met: boolean; detail: string }>): TargetCheck => ({
      target: `fleet-breaker shared (${store}): ${target}`,
      met: parts.every((part) => part.met),
      detail: parts.map((part) => part.detail).join('; '),
    })
    const lag = mine.map((result) => ({
      met: worstLagOf(result) <= LAG_BUDGET_MS,
      detail: `${name(result)}: at most ${worstLagOf(result).toFixed(1)} ms`,
    }))
    return [
      check(`the simulator kept up: its lag at most ${LAG_BUDGET_MS} ms at p99, every run`, lag),
      check('calls reaching the failing service, probes apart, ≤ threshold + environments, every run', leaked),
      check(
        `exactly ${BREAKER.halfOpenMaxProbes} probe (halfOpenMaxProbes) reaches the recovered service, every run`,
        probes,
      ),
      check(
        'never OPEN -> CLOSED without a successful probe (every local close is HALF_OPEN -> CLOSED, probe-succeeded)',
        closes,
      ),
    ]
  })
}

/**
 * One-line figures for the README: the charted fleet size on DynamoDB.
 *
 * @example
 * ```ts
 * const headlines = fleetHeadlines(results, plan)
 * ```
 */
export function fleetHeadlines(results: readonly ConfigurationResult[], plan: Plan): string[] {
  const size = plan.chartEnvironments
  const calls = (strategy: StrategyKind, store?: string) => {
    const result = find(results, strategy, size, store)
    return result === undefined ? 'n/a' : String(medianOf(result, (run) => run.outageCalls))
  }
  const probes = (strategy: StrategyKind, store?: string) => {
    const result = find(results, strategy, size, store)
    return result === undefined ? 'n/a' : String(medianOf(result, (run) => run.recoveryProbes))
  }
  const uncached = uncachedShared(results, size)
  const uncachedCalls =
    uncached === undefined ? '' : `, ${medianOf(uncached, (run) => run.outageCalls)} with no CLOSED cache`
  const lines = [
    `${size} environments, threshold ${BREAKER.failureThreshold}, DynamoDB: fleet-breaker let ` +
      `${calls(StrategyKind.SHARED, 'dynamodb')} calls reach the failing service${uncachedCalls} (per-environment breakers: ` +
      `fleet-breaker ${calls(StrategyKind.PER_ENVIRONMENT)}, opossum ${calls(StrategyKind.OPOSSUM)}, cockatiel ` +
      `${calls(StrategyKind.COCKATIEL)}; naive shared ${calls(StrategyKind.NAIVE, 'dynamodb')}); ` +
      `${probes(StrategyKind.SHARED, 'dynamodb')} probe on recovery vs ${probes(StrategyKind.PER_ENVIRONMENT)} ` +
      `(per-environment fleet-breaker), ${probes(StrategyKind.OPOSSUM)} (opossum), ${probes(StrategyKind.COCKATIEL)} ` +
      `(cockatiel) and ${probes(StrategyKind.NAIVE, 'dynamodb')} (naive shared).`,
  ]
  const scale = results
    .filter(
      (result) =>
        result.configuration.strategy === StrategyKind.SHARED &&
        result.configuration.store === 'dynamodb' &&
        standard(result),
    )
    .sort(byConfiguration)
  if (scale.length > 1) {
    lines.push(
      'fleet-breaker store writes per environment, 10 → 200 environments (DynamoDB): ' +
        scale
          .map((result) =>
            medianOf(result, (run) => (run.store?.writes ?? 0) / result.configuration.environments).toFixed(1),
          )
          .join(' → ') +
        ' (they follow environments, not calls).',
    )
  }
  return lines
}
