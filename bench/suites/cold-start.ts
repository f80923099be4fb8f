/**
 * What fleet-breaker costs a function before its first call: bytes in the deployment bundle, and
 * milliseconds from a fresh Node process to the first decision and the first response.
 */
import { fileURLToPath } from 'node:url'
import { table } from '../lib/markdown.js'
import { findRuntimes } from '../lib/runtimes.js'
import { formatSummary, type Summary, summarise } from '../lib/stats.js'
import type { Suite, TargetCheck } from '../lib/suite.js'
import { type Bundle, bundleHandler, type SdkPlacement } from './cold-start/bundle.js'
import type { StartTimings } from './cold-start/launch.js'
import { HANDLERS, type HandlerId, measureStarts, type StartPlan } from './cold-start/starts.js'

/**
 * The breaker's own code (core and the DynamoDB store) came to 36.6 kB minified when this bound was
 * set; the bound leaves room to grow while catching an accidental dependency or a lost tree-shake.
 */
const BUNDLE_BOUND_BYTES = 50_000

const FULL: StartPlan = { rounds: 15, warmupRounds: 1 }
const QUICK: StartPlan = { rounds: 3, warmupRounds: 1 }

const FIXTURES: Record<HandlerId, string> = {
  baseline: 'baseline-handler',
  'sdk-client': 'sdk-client-handler',
  'dynamodb-caller': 'dynamodb-caller-handler',
  breaker: 'breaker-handler',
  'breaker-dynamodb-caller': 'breaker-dynamodb-caller-handler',
  'breaker-init-read': 'breaker-init-read-handler',
}
const LABELS: Record<HandlerId, string> = {
  baseline: 'no SDK',
  'sdk-client': 'builds a DynamoDB client',
  'dynamodb-caller': 'calls DynamoDB',
  breaker: 'fleet-breaker',
  'breaker-dynamodb-caller': 'calls DynamoDB + fleet-breaker',
  'breaker-init-read': 'fleet-breaker, state read in INIT',
}

/** What each difference compares: the breaker's handler against the function it is added to. */
const COMPARISONS: ReadonlyArray<{ readonly id: HandlerId; readonly over: HandlerId; readonly label: string }> = [
  { id: 'breaker-dynamodb-caller', over: 'dynamodb-caller', label: 'Δ over a function that calls DynamoDB' },
  { id: 'breaker', over: 'sdk-client', label: 'Δ over one that only builds a client' },
  { id: 'breaker', over: 'baseline', label: 'Δ over one with no SDK' },
  { id: 'breaker-init-read', over: 'breaker', label: 'Δ of reading the state in INIT' },
]
const fixture = (id: HandlerId | 'runner') =>
  fileURLToPath(new URL(`./cold-start/fixtures/${id === 'runner' ? 'invoke' : FIXTURES[id]}.ts`, import.meta.url))

type Sizes = Record<HandlerId, Record<SdkPlacement, Bundle>>

type Step = keyof StartTimings
const STEPS: ReadonlyArray<{ readonly step: Step; readonly label: string }> = [
  { step: 'startedMs', label: 'Node started, runner running' },
  { step: 'loadedMs', label: 'handler module loaded (init)' },
  { step: 'decidedMs', label: 'first decision (downstream called)' },
  { step: 'respondedMs', label: 'first response' },
]

interface StepFigures {
  readonly step: Step
  readonly handlers: Record<HandlerId, Summary>
  /** One per {@link COMPARISONS}: the handler minus the other, launched in the same round. */
  readonly deltas: readonly Summary[]
}

const kB = (bytes: number) => (Math.abs(bytes) < 1000 ? `${bytes} B` : `${(bytes / 1000).toFixed(1)} kB`)
const sign = (value: number) => (value < 0 ? '−' : '+')
const signedKB = (bytes: number) => `${sign(bytes)}${kB(Math.abs(bytes))}`
const ms = (summary: Summary) => formatSummary(summary, 1, ' ms')
/** A difference, signed, with its spread written out so negative bounds stay readable. */
const signed = (value: number) => `${sign(value)}${Math.abs(value).toFixed(1)}`
const signedMs = (summary: Summary) => `${signed(summary.median)} ms (${signed(summary.min)} to ${signed(summary.max)})`

async function measureSizes(): Promise<{ sizes: Sizes; runner: Bundle }> {
  const both = async (id: HandlerId) => {
    const [external, bundled] = await Promise.all([
      bundleHandler(fixture(id), 'external'),
      bundleHandler(fixture(id), 'bundled'),
    ])
    return [id, { external, bundled }] as const
  }
  const [entries, runner] = await Promise.all([
    Promise.all(HANDLERS.map(both)),
    bundleHandler(fixture('runner'), 'external'),
  ])
  return { sizes: Object.fromEntries(entries) as Sizes, runner }
}

function stepFigures(timings: Readonly<Record<HandlerId, readonly StartTimings[]>>): StepFigures[] {
  return STEPS.map(({ step }) => {
    const values = (id: HandlerId) => timings[id].map((launch) => launch[step])
    const minus = (id: HandlerId, other: HandlerId) => {
      const theirs = values(other)
      return summarise(values(id).map((value, round) => value - (theirs[round] ?? Number.NaN)))
    }
    return {
      step,
      handlers: Object.fromEntries(HANDLERS.map((id) => [id, summarise(values(id))])) as Record<HandlerId, Summary>,
      deltas: COMPARISONS.map(({ id, over }) => minus(id, over)),
    }
  })
}

function stepOf(figures: readonly StepFigures[], step: Step): StepFigures {
  const found = figures.find((figure) => figure.step === step)
  if (found === undefined) throw new Error(`no figures for ${step}`)
  return found
}

function sizeTable(sizes: Sizes): string {
  const row = (label: string, measure: (placement: SdkPlacement, gzip: boolean) => string) => [
    label,
    ...(['external', 'bundled'] as const).flatMap((placement) => [measure(placement, false), measure(placement, true)]),
  ]
  const size = (id: HandlerId, placement: SdkPlacement, gzip: boolean) =>
    gzip ? sizes[id][placement].gzipBytes : sizes[id][placement].bytes
  return table(
    ['bundle', 'SDK external: minified', 'gzip', 'SDK bundled: minified', 'gzip'],
    [
      ...HANDLERS.map((id) => row(LABELS[id], (placement, gzip) => kB(size(id, placement, gzip)))),
      ...COMPARISONS.slice(0, 3).map(({ id, over, label }) =>
        row(label, (placement, gzip) => signedKB(size(id, placement, gzip) - size(over, placement, gzip))),
      ),
    ],
  )
}

function startTables(figures: readonly StepFigures[]): string {
  const times = table(
    ['since process start', ...HANDLERS.map((id) => LABELS[id])],
    STEPS.map(({ step, label }) => [label, ...HANDLERS.map((id) => ms(stepOf(figures, step).handlers[id]))]),
  )
  const deltas = table(
    ['since process start', ...COMPARISONS.map((comparison) => comparison.label)],
    STEPS.map(({ step, label }) => [label, ...stepOf(figures, step).deltas.map(signedMs)]),
  )
  return [times, '', 'Differences, the same round (median, min to max):', '', deltas].join('\n')
}

const delta = (figures: readonly StepFigures[], step: Step, index: number): Summary => {
  const found = stepOf(figures, step).deltas[index]
  if (found === undefined) throw new Error(`no comparison ${index}`)
  return found
}

function markdownOf(sizes: Sizes, figures: readonly StepFigures[], plan: StartPlan, node: string): string {
  const realistic = delta(figures, 'respondedMs', 0)
  const overClient = delta(figures, 'respondedMs', 1)
  const overNothing = delta(figures, 'respondedMs', 2)
  const initRead = delta(figures, 'respondedMs', 3)
  const initReadLoad = delta(figures, 'loadedMs', 3)
  const sdkExternalDelta = sizes.breaker.external.bytes - sizes.baseline.external.bytes
  return [
    'The same minimal handler six ways: with **no SDK** it calls a (simulated) downstream directly; one ' +
      '**builds a DynamoDB client** at module scope and never uses it; one **calls DynamoDB** (a `GetItem`) ' +
      'on every invocation before the downstream, as most functions that would hold a breaker already do: ' +
      'the realistic baseline. **fleet-breaker** builds a `DynamoDBStore` and a `CircuitBreaker` at module ' +
      'scope and makes the call through `breaker.execute`; **calls DynamoDB + fleet-breaker** does both, ' +
      'sharing one client; **state read in INIT** is fleet-breaker with a top-level `await breaker.getState()`, ' +
      "so the circuit's state is fetched during INIT. Each is bundled by esbuild as for a deployment " +
      "(`bundle`, `minify`, `platform: 'node'`, `format: 'esm'`, `target: 'node22'`); gzip at level 9.",
    '',
    sizeTable(sizes),
    '',
    `Cold start on Node ${node}: ${plan.rounds} launches of each handler (after ${plan.warmupRounds} uncounted), ` +
      'rotating which goes first, each in a fresh `node` process that imports the bundle (SDK bundled, ' +
      'so the process loads one file, as from a deployment package) and invokes the handler once, ' +
      'against dynalite on loopback with the circuit table created beforehand. Times are ' +
      '`performance.now()` in the child: milliseconds since the process started; all cells median (min–max).',
    '',
    startTables(figures),
    '',
    `Against a function that already calls DynamoDB, fleet-breaker delays the first response by ` +
      `${signedMs(realistic)}: the SDK is loaded and warmed either way, and what is left is the breaker's code ` +
      `and its one \`GetItem\` on the first call. Against a function that only builds a client it is ` +
      `${signedMs(overClient)}, and against one with no SDK ${signedMs(overNothing)} (mostly loading the SDK). ` +
      `Reading the state during INIT moves that read out of the first invocation: INIT takes ` +
      `${signedMs(initReadLoad)} longer and the first response comes ${signedMs(initRead)} against reading ` +
      'on the first call; on Lambda, INIT of a provisioned-concurrency or SnapStart environment is paid ' +
      `before any request arrives. fleet-breaker adds ${kB(sdkExternalDelta)} minified to a bundle that leaves ` +
      'the SDK to the runtime. The local server answers over plain HTTP on loopback, so against DynamoDB ' +
      'the first read also pays a TLS handshake and a network round trip (which a function already calling ' +
      'DynamoDB has paid on its own connection).',
  ].join('\n')
}

export const coldStart: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const { sizes, runner } = await measureSizes()
  for (const id of HANDLERS) {
    log(`${id}: ${sizes[id].external.bytes} B (SDK external), ${sizes[id].bundled.bytes} B (SDK bundled)`)
  }
  const bundled = Object.fromEntries(HANDLERS.map((id) => [id, sizes[id].bundled])) as Record<HandlerId, Bundle>
  // Node 22, the runtime Lambda runs, when it can be had.
  const runtime = findRuntimes(log)[0]
  const timings = await measureStarts(runner, bundled, plan, log, runtime?.path)
  const figures = stepFigures(timings)
  for (const figure of figures) {
    log(`${figure.step}: ${HANDLERS.map((id) => `${id} ${ms(figure.handlers[id])}`).join(', ')}`)
  }
  const realistic = delta(figures, 'respondedMs', 0)
  const overClient = delta(figures, 'respondedMs', 1)
  const overNothing = delta(figures, 'respondedMs', 2)
  const breakerExternal = sizes.breaker.external
  const bundleDelta = breakerExternal.bytes - sizes.baseline.external.bytes
  const gzipDelta = breakerExternal.gzipBytes - sizes.baseline.external.gzipBytes
  const checks: TargetCheck[] = [
    {
      target: `the handler with fleet-breaker, SDK external, stays under ${kB(BUNDLE_BOUND_BYTES)} minified`,
      met: breakerExternal.bytes < BUNDLE_BOUND_BYTES,
      detail: `${kB(breakerExternal.bytes)}, ${kB(breakerExternal.gzipBytes)} gzip`,
    },
    {
      target: 'cold start: the extra time to the first response is reported (no target on absolute times)',
      met: true,
      detail:
        `${signedMs(realistic)} over a function that calls DynamoDB, ${signedMs(overClient)} over one that only ` +
        `builds a client, ${signedMs(overNothing)} over one with no SDK; local DynamoDB`,
    },
  ]
  const sizeData = (id: HandlerId) => ({
    sdkExternal: { bytes: sizes[id].external.bytes, gzipBytes: sizes[id].external.gzipBytes },
    sdkBundled: { bytes: sizes[id].bundled.bytes, gzipBytes: sizes[id].bundled.gzipBytes },
  })
  const node = runtime?.version ?? process.version
  return {
    id: 'cold-start',
    title: 'Bundle size and cold start',
    markdown: markdownOf(sizes, figures, plan, node.replace(/^v/, '')),
    checks,
    data: {
      plan,
      node,
      comparisons: COMPARISONS,
      sizes: Object.fromEntries(HANDLERS.map((id) => [id, sizeData(id)])),
      steps: figures,
      launches: timings,
    },
    headlines: [
      `Bundle: fleet-breaker adds ${kB(bundleDelta)} minified (${kB(gzipDelta)} gzip) to a Lambda bundle ` +
        'that leaves the AWS SDK to the runtime.',
      `Cold start (${node}, local DynamoDB): the first response comes ${realistic.median.toFixed(1)} ms later ` +
        `with fleet-breaker than in a function that already calls DynamoDB (${overClient.median.toFixed(1)} ms ` +
        `against one that only builds a client, ${overNothing.median.toFixed(1)} ms against one with no SDK; medians).`,
    ],
  }
}
