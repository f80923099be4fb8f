import { EXTENSION_DEFAULTS, EXTENSION_ENVIRONMENT_VARIABLES } from './config.js'

/** The package's version, printed by `--version` (a test keeps it equal to package.json's). */
export const EXTENSION_VERSION = '0.1.0'

/** The command's name as npm installs it; in a layer the same program is `/opt/extensions/fleet-breaker`. */
const COMMAND = 'fleet-breaker-extension'

const VARIABLES = EXTENSION_ENVIRONMENT_VARIABLES
type ExtensionVariable = (typeof VARIABLES)[keyof typeof VARIABLES]

/** One line of help per variable of the extension's own; the type makes a new variable need one. */
const EXTENSION_VARIABLE_HELP: Record<ExtensionVariable, string> = {
  [VARIABLES.PORT]: `the HTTP API's loopback port (default ${EXTENSION_DEFAULTS.port}; 0: any free one)`,
  [VARIABLES.MAX_CIRCUITS]: `breakers one environment keeps (default ${EXTENSION_DEFAULTS.maxCircuits})`,
  [VARIABLES.MAX_PERMITS]: `permits outstanding at once (default ${EXTENSION_DEFAULTS.maxPermits})`,
  [VARIABLES.ADMIN]: 'true enables the manual controls (default false)',
  [VARIABLES.TOKEN]: 'a secret requests must carry in X-Fleet-Breaker-Token',
  [VARIABLES.PERMIT_TTL_MS]: `longest a permit stays unsettled (default ${EXTENSION_DEFAULTS.permitTtlMs})`,
  [VARIABLES.LOG_LEVEL]: `debug, info, warn or error (default ${EXTENSION_DEFAULTS.logLevel})`,
}

const OTHER_VARIABLES: ReadonlyArray<readonly [string, string]> = [
  ['CIRCUIT_BREAKER_STORE', 'the store: dynamodb (default), redis or memory'],
  ['CIRCUIT_BREAKER_TABLE', 'the DynamoDB table'],
  ['CIRCUIT_BREAKER_REDIS_URL', 'the Redis server, redis:// or rediss://'],
  ['CIRCUIT_BREAKER_KEY_PREFIX', 'put before circuit ids in the store'],
  ['CIRCUIT_BREAKER_*', "the breaker's options, for every circuit"],
  ['AWS_LAMBDA_RUNTIME_API', 'the Extensions API, host:port (set by Lambda; required)'],
  ['AWS_LAMBDA_FUNCTION_NAME', 'the actor of manual control: extension:<name>'],
  ['AWS_LAMBDA_MAX_CONCURRENCY', 'invocations run at once (set by Lambda Managed Instances)'],
]

function variableLines(): string[] {
  const rows = [...Object.entries(EXTENSION_VARIABLE_HELP), ...OTHER_VARIABLES]
  const width = Math.max(...rows.map(([name]) => name.length))
  return rows.map(([name, help]) => `  ${name.padEnd(width)}  ${help}`)
}

/** The text `--help` prints. */
export function extensionUsage(): string {
  return [
    `Usage: ${COMMAND} [--help | --version]`,
    '',
    "fleet-breaker's Lambda extension: serves the fleet's circuit breakers to the function over HTTP",
    'on 127.0.0.1, their state shared through a store (DynamoDB, Redis or memory).',
    '',
    'It runs as a Lambda external extension: Lambda starts it (/opt/extensions/fleet-breaker in the',
    'layer) with AWS_LAMBDA_RUNTIME_API set, and it runs until Lambda sends SHUTDOWN. Elsewhere, set',
    "AWS_LAMBDA_RUNTIME_API to a Runtime API emulator. It reads the function's environment variables:",
    '',
    ...variableLines(),
    '',
    'Options:',
    '  -h, --help  print this help and exit',
    '  --version   print the version and exit',
    '',
  ].join('\n')
}

/** What the process does with its arguments: run the extension, or print and exit with `code`. */
export type CommandLine =
  | { readonly run: true }
  | { readonly run: false; readonly stream: 'stdout' | 'stderr'; readonly text: string; readonly code: number }

const HELP = ['--help', '-h']
const VERSION = '--version'

/**
 * Reads the process's arguments (those after the program). Lambda passes none, so none means run;
 * an argument the program does not know is a usage error (exit 2), never quietly ignored.
 */
export function readCommandLine(args: readonly string[]): CommandLine {
  if (args.length === 0) return { run: true }
  const unknown = args.find((arg) => arg !== VERSION && !HELP.includes(arg))
  if (unknown !== undefined) {
    const text = `${COMMAND}: unknown argument "${unknown}"; it takes --help or --version, and runs without arguments\n`
    return { run: false, stream: 'stderr', text, code: 2 }
  }
  if (args.some((arg) => HELP.includes(arg))) return { run: false, stream: 'stdout', text: extensionUsage(), code: 0 }
  return { run: false, stream: 'stdout', text: `${EXTENSION_VERSION}\n`, code: 0 }
}
