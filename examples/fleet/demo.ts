/**
 * `pnpm demo`: a fleet of simulated Lambda execution environments calls a downstream that fails
 * for a while and recovers, once with fleet-breaker sharing one circuit state through a store and
 * once with a breaker per environment in its own memory; then the two are compared.
 *
 * Run it with `pnpm demo --help` for the options. It runs from the TypeScript sources (tsx maps the
 * package names to them through tsconfig.json), so it needs no build.
 */
import { DEMO_USAGE, type DemoArgs, parseDemoArgs, UsageError } from './demo-args.js'
import { plural, seconds } from './format.js'
import { FLEET_DEFAULTS } from './options.js'

// The AWS SDK warns about Node.js versions it will stop supporting; that is not this demo's news.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const print = (line = '') => console.log(line)

function describe(args: DemoArgs): void {
  const { healthyMs, outageMs, recoveredMs } = FLEET_DEFAULTS.phases
  print(`fleet-breaker demo: ${plural(args.environments, 'Lambda execution environment')} calling one service`)
  print(
    `  phases: healthy ${seconds(healthyMs)}, outage ${seconds(outageMs)} (every request gets a 503), ` +
      `recovered ${seconds(recoveredMs)}`,
  )
  print(
    `  about ${FLEET_DEFAULTS.invocationsPerSecond} invocations a second per environment, one at a time; ` +
      `failure threshold ${args.threshold}; ` +
      (args.cacheTtlMs === undefined ? '' : `cache TTL ${args.cacheTtlMs} ms; `) +
      `seed ${args.seed}`,
  )
  print('  The same invocations run twice: with one circuit state shared through the store, then with a')
  print('  breaker per environment in its own memory, which is what an in-memory breaker gives on Lambda.')
}

async function main(argv: readonly string[]): Promise<number> {
  let args: DemoArgs
  try {
    args = parseDemoArgs(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`pnpm demo: ${error.message}`)
    return 2
  }
  if (args.help) {
    print(DEMO_USAGE)
    return 0
  }
  describe(args)
  // Loaded only now, so --help and a mistyped flag answer at once: the simulation brings the AWS
  // SDK, dynalite and the Redis client with it.
  const [{ compareFleetBreakers }, { ProgressPrinter }, { caveats, comparisonTable, interpretation }] =
    await Promise.all([import('./compare.js'), import('./progress-printer.js'), import('./report.js')])
  const printer = new ProgressPrinter(print)
  const comparison = await compareFleetBreakers({
    environments: args.environments,
    store: args.store,
    failureThreshold: args.threshold,
    seed: args.seed,
    ...(args.cacheTtlMs === undefined ? {} : { cacheTtlMs: args.cacheTtlMs }),
    onProgress: (progress) => printer.handle(progress),
  })
  print()
  print(comparisonTable(comparison))
  print()
  print(interpretation(comparison))
  for (const note of caveats(comparison)) {
    print()
    print(note)
  }
  return 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  console.error(`pnpm demo: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
}
