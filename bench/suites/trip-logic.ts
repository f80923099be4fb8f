/**
 * Trip logic: when the circuit opens and when it must not (background errors, an error burst, one
 * failing environment, a slow downstream), what the failure-rate mode writes while healthy, and
 * what reaches a recovered downstream with and without a ramp after closing. Runs a fleet of
 * breakers over one shared `MemoryStore` on a simulated clock; see `trip-logic/scenarios.ts` for
 * the cases and `trip-logic/virtual-fleet.ts` for the fleet.
 */
import { performance } from 'node:perf_hooks'
import type { Suite } from '../lib/suite.js'
import { type CaseResult, tripLogicChecks, tripLogicHeadlines, tripLogicMarkdown } from './trip-logic/report.js'
import { fleetOptions, measureRun, planCases, planTripLogic, type RunFigures } from './trip-logic/scenarios.js'
import { runVirtualFleet } from './trip-logic/virtual-fleet.js'

const after = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1_000).toFixed(2)} s`)

function describeRun(figures: RunFigures): string {
  const rejected = Object.entries(figures.rejected)
    .map(([reason, count]) => `${count} ${reason}`)
    .join(', ')
  return (
    `${figures.calls} calls (${figures.failedCalls} failed), ${figures.opens} openings (first after ` +
    `${after(figures.firstOpenMs)}), rejected: ${rejected === '' ? 'none' : rejected}, ` +
    `${figures.writesPerEnvironmentSecond.toFixed(2)} writes / env / s ` +
    `(${(figures.wallMs / 1_000).toFixed(2)} s)` +
    (figures.warnings === 0 ? '' : `, ${figures.warnings} warnings`)
  )
}

/**
 * The trip-logic suite: see the module comment.
 *
 * @example
 * ```ts
 * const result = await tripLogic({ quick: true, log: console.log })
 * ```
 */
export const tripLogic: Suite = async ({ quick, log }) => {
  const started = performance.now()
  const plan = planTripLogic({ quick })
  const cases = planCases(plan)
  const results: CaseResult[] = []
  const failures: string[] = []
  const total = plan.sizes.length * cases.length * plan.seeds.length
  let done = 0
  for (const environments of plan.sizes) {
    for (const item of cases) {
      const runs: RunFigures[] = []
      for (const seed of plan.seeds) {
        done++
        const name = `${item.id}, ${environments} envs, seed ${seed}`
        try {
          const run = await runVirtualFleet(fleetOptions(item, environments, seed))
          const figures = measureRun(item, run, seed, plan)
          runs.push(figures)
          log(`[${done}/${total}] ${name}: ${describeRun(figures)}`)
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error)
          failures.push(`${name}: ${reason}`)
          log(`[${done}/${total}] ${name}: FAILED: ${reason}`)
        }
      }
      if (runs.length > 0) results.push({ item, environments, runs })
    }
  }
  // Tables group a scenario's rows by fleet size.
  const order = new Map(cases.map((item, index) => [item.id, index]))
  const scenarioOrder = [...new Set(cases.map((item) => item.scenario))]
  results.sort(
    (a, b) =>
      scenarioOrder.indexOf(a.item.scenario) - scenarioOrder.indexOf(b.item.scenario) ||
      a.environments - b.environments ||
      (order.get(a.item.id) ?? 0) - (order.get(b.item.id) ?? 0),
  )
  const wallMs = performance.now() - started
  log(`done in ${(wallMs / 1_000).toFixed(1)} s`)

  return {
    id: 'trip-logic',
    title: 'Trip logic: when the circuit opens',
    markdown: tripLogicMarkdown({ plan, results, failures, wallMs }),
    checks: tripLogicChecks(results, plan),
    data: {
      mode: quick ? 'quick' : 'full',
      plan,
      failures,
      wallMs,
      cases: results.map(({ item, environments, runs }) => ({
        id: item.id,
        scenario: item.scenario,
        label: item.label,
        environments,
        breaker: item.breaker,
        durationMs: item.durationMs,
        troubleAtMs: item.troubleAtMs,
        runs,
      })),
    },
    headlines: tripLogicHeadlines(results, plan),
  }
}
