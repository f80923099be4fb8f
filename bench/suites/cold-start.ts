/**
 * What fleet-breaker costs a function before its first call: bytes in the deployment bundle, and
 * milliseconds from a fresh Node process to the first decision and the first response.
 */
import { fileURLToPath } from 'node:url'
import { table } from '../lib/markdown.js'
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
  breaker: 'breaker-handler',
}
const LABELS: Record<HandlerId, string> = {
  baseline: 'baseline',
  'sdk-client': 'baseline + DynamoDB client',
  breaker: 'with fleet-breaker',
}
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
  /** The breaker's handler minus the baseline, launched in the same round. */
  readonly overBaseline: Summary
  /** The breaker's handler minus the baseline that already builds a DynamoDB client, same round. */
  readonly overSdkClient: Summary
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
    return { external, bundled }
  }
  const [baseline, sdkClient, breaker, runner] = await Promise.all([
    both('baseline'),
    both('sdk-client'),
    both('breaker'),
    bundleHandler(fixture('runner'), 'external'),
  ])
  return { sizes: { baseline, 'sdk-client': sdkClient, breaker }, runner }
}

function stepFigures(timings: Readonly<Record<HandlerId, readonly StartTimings[]>>): StepFigures[] {
  return STEPS.map(({ step }) => {
    const values = (id: HandlerId) => timings[id].map((launch) => launch[step])
    const breaker = values('breaker')
    const minus = (other: readonly number[]) =>
      summarise(breaker.map((value, round) => value - (other[round] ?? Number.NaN)))
    return {
      step,
      handlers: {
        baseline: summarise(values('baseline')),
        'sdk-client': summarise(values('sdk-client')),
        breaker: summarise(breaker),
      },
      overBaseline: minus(values('baseline')),
      overSdkClient: minus(values('sdk-client')),
    }
  })
}

function stepOf(figures: readonly StepFigures[], step: Step): StepFigures {
  const found = figures.find((figure) => figure.step === step)
  if (found === undefined) throw new Error(`no figures for ${step}`)
  return found
}

function sizeTable(sizes: Sizes): string {
  type Measure = (placement: SdkPlacement, gzip: boolean) => number
  const size =
    (id: HandlerId): Measure =>
    (placement, gzip) =>
      gzip ? sizes[id][placement].gzipBytes : sizes[id][placement].bytes
  const minus =
    (a: HandlerId, b: HandlerId): Measure =>
    (placement, gzip) =>
      size(a)(placement, gzip) - size(b)(placement, gzip)
  const row = (label: string, measure: Measure, format: (bytes: number) => string) => [
    label,
    ...(['external', 'bundled'] as const).flatMap((placement) => [
      format(measure(placement, false)),
      format(measure(placement, true)),
    ]),
  ]
  return table(
    ['bundle', 'SDK external: minified', 'gzip', 'SDK bundled: minified', 'gzip'],
    [
      ...HANDLERS.map((id) => row(LABELS[id], size(id), kB)),
      row('Δ fleet-breaker over baseline', minus('breaker', 'baseline'), signedKB),
      row('Δ fleet-breaker over baseline + DynamoDB client', minus('breaker', 'sdk-client'), signedKB),
    ],
  )
}

function startTable(figures: readonly StepFigures[]): string {
  return table(
    ['since process start', ...HANDLERS.map((id) => LABELS[id]), 'Δ over baseline', 'Δ over baseline + client'],
    STEPS.map(({ step, label }) => {
      const figure = stepOf(figures, step)
      return [
        label,
        ...HANDLERS.map((id) => ms(figure.handlers[id])),
        signedMs(figure.overBaseline),
        signedMs(figure.overSdkClient),
      ]
    }),
  )
}

function markdownOf(sizes: Sizes, figures: readonly StepFigures[], plan: StartPlan): string {
  const loaded = stepOf(figures, 'loadedMs')
  const decided = stepOf(figures, 'decidedMs')
  const responded = stepOf(figures, 'respondedMs')
  const sdkExternalDelta = sizes.breaker.external.bytes - sizes.baseline.external.bytes
  return [
    'The same minimal handler three ways: the **baseline** calls a (simulated) downstream directly; ' +
      '**baseline + DynamoDB client** also builds a `DynamoDBClient` at module scope, like a function ' +
      'that already uses DynamoDB; **with fleet-breaker** builds a `DynamoDBStore` and a ' +
      '`CircuitBreaker` at module scope and makes the call through `breaker.execute`. Each is bundled ' +
      "by esbuild as for a deployment (`bundle`, `minify`, `platform: 'node'`, `format: 'esm'`, " +
      "`target: 'node22'`, packages' ESM builds first); gzip at level 9. With `@aws-sdk/*` external, " +
      'as the Lambda runtime provides the SDK, the difference is fleet-breaker itself; with the SDK ' +
      'bundled, as functions that pin their SDK version ship it, it also holds the DynamoDB client ' +
      'unless the function already has one.',
    '',
    sizeTable(sizes),
    '',
    `Cold start: ${plan.rounds} launches of each handler (after ${plan.warmupRounds} uncounted), ` +
      'rotating which goes first, each in a fresh `node` process that imports the bundle (SDK bundled, ' +
      'so the process loads one file, as from a deployment package) and invokes the handler once, ' +
      'against dynalite on loopback with the circuit table created beforehand. Times are ' +
      '`performance.now()` in the child: milliseconds since the process started. The breaker starts ' +
      'with an empty cache, so its first decision makes one `GetItem`. Δ is the breaker minus the ' +
      'other handler in the same round; all cells are median (min–max).',
    '',
    startTable(figures),
    '',
    `fleet-breaker adds ${kB(sdkExternalDelta)} minified to a bundle that leaves the SDK to the runtime. ` +
      `It delays the first response by ${responded.overBaseline.median.toFixed(1)} ms over the baseline ` +
      `(${loaded.overBaseline.median.toFixed(1)} ms of it in init, mostly loading the SDK) and by ` +
      `${responded.overSdkClient.median.toFixed(1)} ms over a function that already builds a DynamoDB ` +
      `client (${signed(loaded.overSdkClient.median)} ms in init, ` +
      `${(decided.overSdkClient.median - loaded.overSdkClient.median).toFixed(1)} ms for the first ` +
      "decision: the store read, including the SDK's one-time set-up for a first request, much of which " +
      'such a function pays anyway on its own first call to DynamoDB). The local server answers over plain HTTP on ' +
      'loopback, so against DynamoDB the first read also pays a TLS handshake and a network round trip; ' +
      'later invocations decide from the cache, with no request at all.',
  ].join('\n')
}

export const coldStart: Suite = async ({ quick, log }) => {
  const plan = quick ? QUICK : FULL
  const { sizes, runner } = await measureSizes()
  for (const id of HANDLERS) {
    log(`${id}: ${sizes[id].external.bytes} B (SDK external), ${sizes[id].bundled.bytes} B (SDK bundled)`)
  }
  const bundled = {
    baseline: sizes.baseline.bundled,
    'sdk-client': sizes['sdk-client'].bundled,
    breaker: sizes.breaker.bundled,
  }
  const timings = await measureStarts(runner, bundled, plan, log)
  const figures = stepFigures(timings)
  for (const figure of figures) {
    log(`${figure.step}: ${HANDLERS.map((id) => `${id} ${ms(figure.handlers[id])}`).join(', ')}`)
  }
  const responded = stepOf(figures, 'respondedMs')
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
        `${signedMs(responded.overBaseline)} over the baseline, ${signedMs(responded.overSdkClient)} over a handler ` +
        'with a DynamoDB client; local DynamoDB',
    },
  ]
  const sizeData = (id: HandlerId) => ({
    sdkExternal: { bytes: sizes[id].external.bytes, gzipBytes: sizes[id].external.gzipBytes },
    sdkBundled: { bytes: sizes[id].bundled.bytes, gzipBytes: sizes[id].bundled.gzipBytes },
  })
  return {
    id: 'cold-start',
    title: 'Bundle size and cold start',
    markdown: markdownOf(sizes, figures, plan),
    checks,
    data: {
      plan,
      sizes: { baseline: sizeData('baseline'), 'sdk-client': sizeData('sdk-client'), breaker: sizeData('breaker') },
      steps: figures,
      launches: timings,
    },
    headlines: [
      `Bundle: fleet-breaker adds ${kB(bundleDelta)} minified (${kB(gzipDelta)} gzip) to a Lambda bundle ` +
        'that leaves the AWS SDK to the runtime.',
      `Cold start: the first response comes ${responded.overBaseline.median.toFixed(1)} ms later with ` +
        `fleet-breaker than without it, ${responded.overSdkClient.median.toFixed(1)} ms later than a function ` +
        'that already builds a DynamoDB client (medians; first store read against local DynamoDB).',
    ],
  }
}
