import { STORE_KINDS, StoreKind } from './store-backend.js'

/** What the demo was asked to do. */
export interface DemoArgs {
  readonly environments: number
  readonly store: StoreKind
  readonly threshold: number
  readonly seed: number
  /** Absent: the breaker's default. */
  readonly cacheTtlMs?: number
  readonly help: boolean
}

/**
 * A command line the demo cannot run; the message says what to change.
 *
 * @example
 * ```ts
 * try {
 *   parseDemoArgs(['--envs', 'many'])
 * } catch (error) {
 *   if (error instanceof UsageError) console.error(error.message) // --envs must be a whole number ...
 * }
 * ```
 */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The defaults of the demo's flags. */
export const DEMO_DEFAULTS = {
  environments: 20,
  store: StoreKind.DYNAMODB,
  threshold: 5,
  seed: 1,
} as const

/** The demo's help text. */
export const DEMO_USAGE = `Usage: pnpm demo [options]

Runs a fleet of simulated Lambda execution environments against a downstream that fails for a
while and recovers, twice: with fleet-breaker sharing one circuit state through a store, and with
a breaker per environment in its own memory. Then compares what reached the failing downstream.

Options:
  --envs <n>        execution environments, 1 to 500 (default ${DEMO_DEFAULTS.environments})
  --store <kind>    where the shared state lives: ${STORE_KINDS.join(', ')} (default ${DEMO_DEFAULTS.store})
                      dynamodb: an embedded dynalite, nothing to set up
                      redis: CIRCUIT_BREAKER_REDIS_URL, else REDIS_URL, else redis://127.0.0.1:6379
                      memory: one store in this process
  --threshold <n>   failures that open the circuit, 1 to 1000 (default ${DEMO_DEFAULTS.threshold})
  --seed <n>        seeds the invocation schedule, 0 to 4294967295 (default ${DEMO_DEFAULTS.seed}):
                      the same seed invokes the same environments at the same times; the
                      outcome varies a little from run to run, as the store, the downstream
                      and the breakers run in real time
  --cache-ttl <ms>  how long an environment trusts a CLOSED state it read, 0 to 60000
                      (default: the breaker's, 5000)
  --help            show this text
`

interface NumberFlag {
  readonly key: 'environments' | 'threshold' | 'seed' | 'cacheTtlMs'
  readonly min: number
  readonly max: number
}

const NUMBER_FLAGS: Readonly<Record<string, NumberFlag>> = {
  '--envs': { key: 'environments', min: 1, max: 500 },
  '--threshold': { key: 'threshold', min: 1, max: 1_000 },
  '--seed': { key: 'seed', min: 0, max: 0xffff_ffff },
  '--cache-ttl': { key: 'cacheTtlMs', min: 0, max: 60_000 },
}

/**
 * Reads the demo's flags (`--envs 20` or `--envs=20`), throwing a {@link UsageError} that names
 * the flag and says what it accepts.
 *
 * @example
 * ```ts
 * parseDemoArgs(['--envs', '50', '--store=redis']) // { environments: 50, store: 'redis', threshold: 5, seed: 1, help: false }
 * ```
 */
export function parseDemoArgs(argv: readonly string[]): DemoArgs {
  const numbers: Partial<Record<NumberFlag['key'], number>> = {}
  let store: StoreKind = DEMO_DEFAULTS.store
  let help = false
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] ?? ''
    // pnpm passes a lone `--` through when the script is run as `pnpm demo -- --envs 5`.
    if (argument === '--') continue
    if (argument === '--help' || argument === '-h') {
      help = true
      continue
    }
    const [flag = '', inline] = splitFlag(argument)
    const numberFlag = NUMBER_FLAGS[flag]
    if (numberFlag === undefined && flag !== '--store') {
      throw new UsageError(`unknown option ${JSON.stringify(argument)}; see --help`)
    }
    let value = inline
    if (value === undefined) {
      value = argv[index + 1]
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value; see --help`)
      index++
    }
    if (numberFlag === undefined) store = storeKind(value)
    else numbers[numberFlag.key] = wholeNumber(flag, value, numberFlag)
  }
  return {
    environments: numbers.environments ?? DEMO_DEFAULTS.environments,
    store,
    threshold: numbers.threshold ?? DEMO_DEFAULTS.threshold,
    seed: numbers.seed ?? DEMO_DEFAULTS.seed,
    ...(numbers.cacheTtlMs === undefined ? {} : { cacheTtlMs: numbers.cacheTtlMs }),
    help,
  }
}

function splitFlag(argument: string): [string, string | undefined] {
  const equals = argument.indexOf('=')
  return equals === -1 ? [argument, undefined] : [argument.slice(0, equals), argument.slice(equals + 1)]
}

function wholeNumber(flag: string, value: string, { min, max }: NumberFlag): number {
  const parsed = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}; received ${JSON.stringify(value)}`)
  }
  return parsed
}

function storeKind(value: string): StoreKind {
  const kind = STORE_KINDS.find((candidate) => candidate === value)
  if (kind === undefined) {
    throw new UsageError(`--store must be one of ${STORE_KINDS.join(', ')}; received ${JSON.stringify(value)}`)
  }
  return kind
}
