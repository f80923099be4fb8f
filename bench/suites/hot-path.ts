/**
 * Hot-path overhead: what wrapping a call in a closed circuit costs, per call, in process, against
 * a bare call and against cockatiel and opossum, with and without a call timeout.
 */

import { table } from '../lib/markdown.js'
import { formatSummary, median, type Summary, summarise } from '../lib/stats.js'
import type { Suite, TargetCheck } from '../lib/suite.js'
import { type Contender, createContenders, type Library } from './hot-path/contenders.js'
import { measureRounds, type RoundsPlan } from './hot-path/measure.js'

const FULL: RoundsPlan = { rounds: 15, calls: 200_000, warmupRounds: 2, seed: 0x5eed }
const QUICK: RoundsPlan = { rounds: 3, calls: 20_000, warmupRounds: 1, seed: 0x5eed }

/** A contender's figures over all rounds. */
interface ContenderFigures {
  readonly id: string
  readonly label: string
  readonly library: Library
  readonly withTimeout: boolean
  readonly nsPerCall: Summary
  /** This contender's time minus the bare call's in the same round: what the wrapping costs. */
  readonly overheadNs: Summary
  /** Median overhead over cockatiel's (and opossum's) on the same path; undefined for bare and reference. */
  readonly vsCockatiel: number | undefined
  readonly vsOpossum: number | undefined
  readonly rounds: { readonly nsPerCall: readonly number[]; readonly overheadNs: readonly number[] }
}

function overheadsOf(own: readonly number[], bare: readonly number[]): number[] {
  return own.map((ns, round) => ns - (bare[round] ?? Number.NaN))
}

/** `a / b`, or undefined when `b` is not a positive overhead (a ratio would mean nothing). */
function ratio(a: number, b: number): number | undefined {
  return b > 0 ? a / b : undefined
}

function figuresOf(contenders: readonly Contender[], nsPerCall: ReadonlyMap<string, number[]>): ContenderFigures[] {
  const bare = nsPerCall.get('bare') ?? []
  const overheadMedian = (id: string) => median(overheadsOf(nsPerCall.get(id) ?? [], bare))
  return contenders.map((contender) => {
    const own = nsPerCall.get(contender.id) ?? []
    const overheads = overheadsOf(own, bare)
    const suffix = contender.withTimeout ? '-timeout' : ''
    const compared = contender.library !== 'bare' && contender.library !== 'reference'
    return {
      id: contender.id,
      label: contender.label,
      library: contender.library,
      withTimeout: contender.withTimeout,
      nsPerCall: summarise(own),
      overheadNs: summarise(overheads),
      vsCockatiel: compared ? ratio(median(overheads), overheadMedian(`cockatiel${suffix}`)) : undefined,
      vsOpossum: compared ? ratio(median(overheads), overheadMedian(`opossum${suffix}`)) : undefined,
      rounds: { nsPerCall: own, overheadNs: overheads },
    }
  })
}

const ns = (value: number) => `${Math.round(value)} ns`
const times = (value: number | undefined) => (value === undefined ? '–' : `${value.toFixed(2)}×`)
/** A difference, signed, with its spread written out so a negative bound stays readable. */
const signed = (summary: Summary) => {
  const f = (value: number) => `${value < 0 ? '−' : '+'}${Math.abs(Math.round(value))}`
  return `${f(summary.median)} (${f(summary.min)} to ${f(summary.max)})`
}

function find(figures: readonly ContenderFigures[], id: string): ContenderFigures {
  const found = figures.find((figure) => figure.id === id)
  if (found === undefined) throw new Error(`no figures for contender ${id}`)
  return found
}

function checksOf(figures: readonly ContenderFigures[]): TargetCheck[] {
  const overhead = (id: string) => find(figures, id).overheadNs.median
  const fleet = find(figures, 'fleet-breaker')
  const fleetTimeout = find(figures, 'fleet-breaker-timeout')
  // The two are close enough that the per-round difference says more about noise than the medians do.
  const cockatiel = find(figures, 'cockatiel').rounds.nsPerCall
  const difference = summarise(fleet.rounds.nsPerCall.map((value, round) => value - (cockatiel[round] ?? Number.NaN)))
  const precise = (value: number) => `${value.toFixed(1)} ns`
  const signedPrecise = (value: number) => `${value < 0 ? '−' : '+'}${precise(Math.abs(value))}`
  return [
    {
      target: "fleet-breaker's hot-path overhead ≤ cockatiel's",
      met: overhead('fleet-breaker') <= overhead('cockatiel'),
      detail:
        `${precise(overhead('fleet-breaker'))} vs ${precise(overhead('cockatiel'))}, ${times(fleet.vsCockatiel)}; ` +
        `per round, fleet-breaker minus cockatiel ${signedPrecise(difference.median)} ` +
        `(${signedPrecise(difference.min)} to ${signedPrecise(difference.max)})`,
    },
    {
      target: "fleet-breaker's hot-path overhead < 0.5 × opossum's",
      met: fleet.vsOpossum !== undefined && fleet.vsOpossum < 0.5,
      detail: `${ns(overhead('fleet-breaker'))} vs ${ns(overhead('opossum'))}, ${times(fleet.vsOpossum)}`,
    },
    {
      target: "with a 1 s call timeout, fleet-breaker's overhead < opossum's timeout path",
      met: overhead('fleet-breaker-timeout') < overhead('opossum-timeout'),
      detail: `${ns(overhead('fleet-breaker-timeout'))} vs ${ns(overhead('opossum-timeout'))}, ${times(fleetTimeout.vsOpossum)}`,
    },
    {
      target: "every contender returns the function's value on every call",
      // timeCalls throws on a wrong value, so reaching this point means every call was checked.
      met: true,
      detail: `${figures.reduce((sum, figure) => sum + figure.rounds.nsPerCall.length, 0)} timed batches checked`,
    },
  ]
}

function markdownOf(figures: readonly ContenderFigures[], plan: RoundsPlan): string {
  const overhead = (id: string) => ns(find(figures, id).overheadNs.median)
  const fleet = find(figures, 'fleet-breaker')
  const method =
    'Every contender wraps the same `async () => 1` in a closed circuit, in this process: fleet-breaker ' +
    'with a `MemoryStore` and default options (the local cache on, so a healthy call makes no store ' +
    'call, as with DynamoDB or Redis), cockatiel with `ConsecutiveBreaker(5)`, opossum with its ' +
    `defaults. After ${plan.warmupRounds} warm-up ${plan.warmupRounds === 1 ? 'round' : 'rounds'}, ${plan.rounds} rounds; in each round every contender ` +
    `makes ${plan.calls.toLocaleString('en-US')} sequential awaited calls, in an order shuffled afresh ` +
    '(seeded) each round, timed with `process.hrtime.bigint()`. ns/call is the median over rounds ' +
    '(min–max); the overhead is the contender minus the bare call in the same round, median over rounds; ' +
    "the ratios divide a contender's median overhead by cockatiel's or opossum's on the same path " +
    '(without, or with, a 1 s call timeout that never fires).'
  const rows = figures.map((figure) => [
    figure.label,
    formatSummary(figure.nsPerCall, 0),
    figure.library === 'bare' ? '–' : signed(figure.overheadNs),
    times(figure.vsCockatiel),
    times(figure.vsOpossum),
  ])
  const slowest = Math.max(...figures.map((figure) => figure.overheadNs.median))
  const interpretation =
    `fleet-breaker adds ${overhead('fleet-breaker')} per call to a bare async call, ` +
    `${times(fleet.vsCockatiel)} cockatiel's ${overhead('cockatiel')} and ${times(fleet.vsOpossum)} opossum's ` +
    `${overhead('opossum')}: a closed circuit is decided from the local cache, so the shared state costs ` +
    `no store call here. With a 1 s call timeout it adds ${overhead('fleet-breaker-timeout')} (cockatiel ` +
    `${overhead('cockatiel-timeout')}, opossum ${overhead('opossum-timeout')}): fleet-breaker and cockatiel ` +
    'give each call its own `AbortSignal`, aborted at the deadline, and creating an `AbortController` ' +
    `alone costs ${overhead('abort-controller')} on this Node version (the reference row); opossum races ` +
    `a timer against the call and leaves the call running. For scale, the slowest path here costs ` +
    `${(slowest / 1000).toFixed(1)} µs per call, against invocations that wait milliseconds on the network.`
  return [
    method,
    '',
    table(['contender', 'ns/call', 'overhead over bare (ns)', 'vs cockatiel', 'vs opossum'], rows),
    '',
    interpretation,
  ].join('\n')
}

export const hotPath: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const contenders = createContenders()
  try {
    log(`${contenders.length} contenders, ${plan.rounds} rounds × ${plan.calls} calls`)
    const { nsPerCall, orders } = await measureRounds(contenders, plan, (round) =>
      log(`round ${round + 1}/${plan.rounds}`),
    )
    const figures = figuresOf(contenders, nsPerCall)
    for (const figure of figures) log(`${figure.id}: ${formatSummary(figure.nsPerCall, 0, ' ns')}`)
    const overhead = (id: string) => ns(find(figures, id).overheadNs.median)
    return {
      id: 'hot-path',
      title: 'Hot-path overhead',
      markdown: markdownOf(figures, plan),
      checks: checksOf(figures),
      data: { plan, contenders: figures, orders },
      headlines: [
        `Hot path (closed circuit, in process): fleet-breaker adds ${overhead('fleet-breaker')} per call ` +
          `(cockatiel ${overhead('cockatiel')}, opossum ${overhead('opossum')}); with a 1 s call timeout ` +
          `${overhead('fleet-breaker-timeout')} (cockatiel ${overhead('cockatiel-timeout')}, opossum ` +
          `${overhead('opossum-timeout')}).`,
      ],
    }
  } finally {
    for (const contender of contenders) contender.close()
  }
}
