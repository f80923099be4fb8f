/**
 * Fleet protection: what reaches a failing downstream, and what it costs, with fleet-breaker's
 * shared circuit against a breaker per environment (fleet-breaker, opossum, cockatiel) and against
 * a naive read-modify-write shared breaker, at 10, 50 and 200 environments, on every store.
 * Runs the fleet simulator of `examples/fleet`; see `fleet/plan.ts` for what each mode runs.
 */
import { performance } from 'node:perf_hooks'
import { StoreKind, startSharedStore } from '../../examples/fleet/store-backend.js'
import type { Suite } from '../lib/suite.js'
import { outageChart } from './fleet/chart.js'
import { BASE_RATE, planRuns } from './fleet/plan.js'
import { type ConfigurationResult, fleetChecks, fleetHeadlines, fleetMarkdown } from './fleet/report.js'
import {
  BREAKER,
  type Configuration,
  configurationKey,
  type RunFigures,
  runConfiguration,
  StrategyKind,
  strategyLabel,
} from './fleet/runs.js'

const CHART_PATH = 'bench/outage-timeline.svg'

/** The chart's panels in order: the shared strategies first. */
function chartOrder(configuration: Configuration): number {
  switch (configuration.strategy) {
    case StrategyKind.SHARED:
      return configuration.cacheTtlMs === undefined ? 0 : 1
    case StrategyKind.NAIVE:
      return 2
    case StrategyKind.PER_ENVIRONMENT:
      return 3
    case StrategyKind.OPOSSUM:
      return 4
    case StrategyKind.COCKATIEL:
      return 5
  }
}

/**
 * The fleet suite: see the module comment.
 *
 * @example
 * ```ts
 * const result = await fleetProtection({ quick: true, log: console.log })
 * ```
 */
export const fleetProtection: Suite = async ({ quick, log }) => {
  // The AWS SDK warns about Node.js versions it will stop supporting; that is not this suite's news.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  const started = performance.now()
  const redisSkipped = quick ? 'quick mode leaves Redis out.' : await redisUnavailable()
  if (redisSkipped !== undefined) log(`Redis: ${redisSkipped}`)
  const plan = planRuns({ quick, redis: redisSkipped === undefined })
  const charted = (configuration: Configuration) =>
    configuration.environments === plan.chartEnvironments &&
    configuration.invocationsPerSecond === BASE_RATE &&
    (configuration.store === undefined || configuration.store === StoreKind.DYNAMODB)

  const runs = new Map<string, { configuration: Configuration; runs: RunFigures[] }>()
  const failures: string[] = []
  const total = plan.seeds.length * plan.configurations.length
  let done = 0
  // Seed by seed, every configuration in turn: the contenders share the machine's drift.
  for (const seed of plan.seeds) {
    for (const configuration of plan.configurations) {
      done++
      const name = `${strategyLabel(configuration)}, ${configuration.environments} envs at ${configuration.invocationsPerSecond}/s, seed ${seed}`
      try {
        const figures = await runConfiguration(configuration, {
          seed,
          phases: plan.phases,
          keepTimeline: charted(configuration),
          ...(process.env.REDIS_URL === undefined ? {} : { redisUrl: process.env.REDIS_URL }),
        })
        const key = configurationKey(configuration)
        const entry = runs.get(key) ?? { configuration, runs: [] }
        entry.runs.push(figures)
        runs.set(key, entry)
        log(`[${done}/${total}] ${name}: ${describeRun(figures)}`)
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error)
        failures.push(`${name}: ${reason}`)
        log(`[${done}/${total}] ${name}: FAILED: ${reason}`)
      }
    }
  }
  const results: ConfigurationResult[] = [...runs.values()]

  const series = results
    .filter((result) => charted(result.configuration))
    .sort((a, b) => chartOrder(a.configuration) - chartOrder(b.configuration))
    .map((result) => ({
      strategy: strategyLabel(result.configuration),
      timelines: result.runs.flatMap((run) => (run.timeline === undefined ? [] : [run.timeline])),
      recoveryProbes: result.runs.map((run) => run.recoveryProbes),
    }))
  const svg = await outageChart(series, {
    title: `A ${plan.phases.outageMs / 1_000} s outage, ${plan.chartEnvironments} environments`,
    subtitle: [
      `threshold ${BREAKER.failureThreshold}, reset timeout ${BREAKER.resetTimeoutMs / 1_000} s; median of ` +
        `${plan.seeds.length === 1 ? 'one run' : `${plan.seeds.length} seeds`}; shared strategies on DynamoDB (embedded dynalite)`,
    ],
    outageMs: plan.phases.outageMs,
    afterMs: plan.phases.recoveredMs,
  })
  const wallMs = performance.now() - started
  log(`done in ${(wallMs / 1_000).toFixed(0)} s`)

  return {
    id: 'fleet',
    title: 'Fleet protection during an outage',
    markdown: fleetMarkdown({ plan, results, redisSkipped, failures, wallMs, chartPath: CHART_PATH }),
    checks: fleetChecks(results),
    data: {
      mode: quick ? 'quick' : 'full',
      phases: plan.phases,
      seeds: plan.seeds,
      redisSkipped: redisSkipped ?? null,
      failures,
      wallMs,
      configurations: results.map((result) => ({
        label: strategyLabel(result.configuration),
        ...result.configuration,
        runs: result.runs,
      })),
    },
    files: [{ path: CHART_PATH, content: svg }],
    headlines: fleetHeadlines(results, plan),
  }
}

/** Why the Redis rows cannot run, or `undefined` when a server answers (at `REDIS_URL` or 127.0.0.1:6379). */
async function redisUnavailable(): Promise<string | undefined> {
  try {
    const backend = await startSharedStore(StoreKind.REDIS)
    await backend.close()
    return undefined
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split('\n')[0]
  }
}

const after = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1_000).toFixed(2)} s`)

function describeRun(figures: RunFigures): string {
  const store =
    figures.store === undefined
      ? ''
      : `, store ${figures.store.readsPerInvocation.toFixed(3)} reads / ${figures.store.writesPerInvocation.toFixed(3)} writes per invocation`
  const naive =
    figures.naive === undefined
      ? ''
      : `, naive audit: ${figures.naive.lostFailures} failure counts lost, opened ${figures.naive.opened} times, ` +
        `${figures.naive.closedWithoutProbe} closes without a probe`
  return (
    `${figures.outageCalls} calls in the outage (${figures.outageProbes} probes), stopped after ` +
    `${after(figures.fleetOpenMs)}, ${figures.recoveryProbes} probes on recovery, closed after ` +
    `${after(figures.lastClosedMs)}, ${figures.alerts} alerts${store} ` +
    `(${(figures.wallMs / 1_000).toFixed(1)} s` +
    (figures.overrunMs < 100 ? ')' : `, ${(figures.overrunMs / 1_000).toFixed(1)} s past the schedule)`) +
    naive +
    (figures.strategyErrors === 0 ? '' : `, ${figures.strategyErrors} strategy errors`) +
    (figures.warnings.length === 0
      ? ''
      : `, warnings: ${figures.warnings.map((w) => `${w.count}× ${w.message}`).join('; ')}`)
  )
}
