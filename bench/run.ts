/**
 * `pnpm bench`: runs every benchmark suite and writes BENCHMARKS.md (with raw figures in
 * bench/results/). `pnpm bench --quick` runs each suite briefly, as CI does, so the benchmarks
 * cannot rot; it writes bench/results/quick/ and leaves the published figures alone. Only a suite
 * that fails to run makes the command fail: targets are reported, never enforced, because timings
 * depend on the machine.
 *
 * `--only hot-path,fleet` runs some suites.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type CpuTimes, readCpuTimes, stealBetween } from './lib/host-load.js'
import { describeMachine, packageVersion } from './lib/machine.js'
import { checklist, table } from './lib/markdown.js'
import type { Suite, SuiteResult } from './lib/suite.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const SUITES: Record<string, () => Promise<Suite>> = {
  'hot-path': async () => (await import('./suites/hot-path.js')).hotPath,
  'store-cost': async () => (await import('./suites/store-cost.js')).storeCost,
  fleet: async () => (await import('./suites/fleet.js')).fleetProtection,
  'trip-logic': async () => (await import('./suites/trip-logic.js')).tripLogic,
  'cold-start': async () => (await import('./suites/cold-start.js')).coldStart,
  'observer-overhead': async () => (await import('./suites/observer-overhead.js')).observerOverhead,
  extension: async () => (await import('./suites/extension.js')).extension,
}

function parseArgs(argv: readonly string[]): { quick: boolean; only: string[] } {
  const args = argv.filter((arg) => arg !== '--')
  const quick = args.includes('--quick')
  const onlyIndex = args.indexOf('--only')
  const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',').filter(Boolean) : Object.keys(SUITES)
  for (const id of only) {
    if (!(id in SUITES)) throw new Error(`unknown suite "${id}"; suites: ${Object.keys(SUITES).join(', ')}`)
  }
  return { quick, only }
}

/** How long a suite took, and the host's CPU times around it. */
interface SuiteRun {
  readonly seconds: number
  readonly before: CpuTimes | undefined
  readonly after: CpuTimes | undefined
}

function report(results: readonly SuiteResult[], quick: boolean, runs: Readonly<Record<string, SuiteRun>>): string {
  const machine = describeMachine()
  const versions: Array<[string, string]> = [
    ['@fleet-breaker/core', packageVersion('@fleet-breaker/core')],
    ['cockatiel', packageVersion('cockatiel')],
    ['opossum', packageVersion('opossum')],
    ['@aws-sdk/client-dynamodb', packageVersion('@aws-sdk/client-dynamodb')],
    ['dynalite', packageVersion('dynalite')],
    ['ioredis', packageVersion('ioredis')],
    ['esbuild', packageVersion('esbuild')],
  ]
  const headlines = results.flatMap((result) => result.headlines ?? [])
  const measured = Object.values(runs)
  const total = measured.reduce((sum, run) => sum + run.seconds, 0)
  const durations = Object.entries(runs)
    .map(([id, { seconds, before, after }]) => {
      const took = seconds < 60 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`
      return `${id} ${took}, steal ${stealBetween(before, after)}`
    })
    .join('; ')
  const steal = stealBetween(measured[0]?.before, measured.at(-1)?.after)
  const sections = results.map(
    (result) => `## ${result.title}\n\n${result.markdown}\n\n### Targets\n\n${checklist(result.checks)}`,
  )
  return [
    '# Benchmarks',
    '',
    `Measured by \`pnpm bench${quick ? ' --quick' : ''}\` on ${new Date().toISOString().slice(0, 10)}. ` +
      'Reproduce with `pnpm install && pnpm bench` (a Redis server at `REDIS_URL` or 127.0.0.1:6379 ' +
      'for the Redis rows; `pnpm bench --quick` for a short run). Figures are medians over repeated ' +
      'runs, with the spread (min–max) in brackets; every contender runs in the same process, ' +
      "interleaved, so they share the machine's noise. The timing suites run on Node 22, the runtime Lambda " +
      'runs (from the npm registry when this machine has another), and on the Node.js running the command ' +
      'beside it. Every suite runs the packages as they are published: the build `pnpm bench` makes first, ' +
      "each package's `dist/`, imported by package name as an application imports it.",
    '',
    `This run took ${(total / 60).toFixed(1)} min (${durations}). Steal is the share of the machine's CPU ` +
      'time the hypervisor gave to other guests: timings from a run with a high one are slower across the board.',
    '',
    '## Machine and versions',
    '',
    table(['', ''], [...Object.entries(machine), ['CPU steal over the run', steal], ...versions]),
    '',
    '## Headlines',
    '',
    headlines.map((line) => `- ${line}`).join('\n'),
    '',
    sections.join('\n\n'),
    '',
  ].join('\n')
}

/**
 * Fails unless the packages resolve to their build, as `pnpm bench` arranges (bench/tsconfig.json
 * maps nothing onto the TypeScript sources): run through a TypeScript loader, the sources are
 * compiled differently (the loader gives every function it makes a `name` of its own, which costs
 * a call that makes one), so figures from them would not be those of the published package.
 */
function assertPublishedBuild(): void {
  const resolved = import.meta.resolve('@fleet-breaker/core')
  if (!resolved.includes('/dist/')) {
    throw new Error(
      `@fleet-breaker/core resolves to ${resolved}, not its build: run the benchmarks with \`pnpm bench\``,
    )
  }
}

async function main(): Promise<void> {
  const { quick, only } = parseArgs(process.argv.slice(2))
  assertPublishedBuild()
  const results: SuiteResult[] = []
  const runs: Record<string, SuiteRun> = {}
  let failed = false
  for (const id of only) {
    const load = SUITES[id]
    if (load === undefined) continue
    console.log(`\n=== ${id}${quick ? ' (quick)' : ''}`)
    const started = performance.now()
    const before = readCpuTimes()
    try {
      const suite = await load()
      const result = await suite({ quick, log: (line) => console.log(`  ${line}`) })
      results.push(result)
      for (const check of result.checks)
        console.log(`  ${check.met ? 'met' : 'NOT MET'}: ${check.target} (${check.detail})`)
    } catch (error) {
      failed = true
      console.error(`  suite ${id} failed:`, error)
    }
    const after = readCpuTimes()
    runs[id] = { seconds: (performance.now() - started) / 1_000, before, after }
    console.log(`  ${id} took ${Math.round(runs[id].seconds)} s, CPU steal ${stealBetween(before, after)}`)
  }
  const output = quick ? join(root, 'bench/results/quick') : join(root, 'bench/results')
  mkdirSync(output, { recursive: true })
  for (const result of results) {
    writeFileSync(join(output, `${result.id}.json`), `${JSON.stringify(result.data, null, 2)}\n`)
    for (const file of result.files ?? []) {
      const path = quick ? join(output, file.path.split('/').at(-1) ?? file.path) : join(root, file.path)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, file.content)
    }
  }
  const markdown = report(results, quick, runs)
  const reportPath = quick ? join(output, 'BENCHMARKS.md') : join(root, 'BENCHMARKS.md')
  writeFileSync(reportPath, markdown)
  console.log(`\nwrote ${reportPath}`)
  if (failed) process.exitCode = 1
}

await main()
