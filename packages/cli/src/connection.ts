import {
  type CircuitStore,
  isInvalidConfigurationError,
  isStoreUnavailableError,
  type Logger,
} from '@fleet-breaker/core'
import {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  STORE_ENVIRONMENT_VARIABLES,
  type StoreFromEnvironmentOptions,
  StoreKind,
} from '@fleet-breaker/storage'
import { CliError, UsageError } from './errors.js'

/** The store options every command accepts; each falls back to its `CIRCUIT_BREAKER_*` variable. */
export interface StoreSelection {
  readonly store?: string
  readonly table?: string
  readonly redisUrl?: string
  readonly region?: string
  readonly keyPrefix?: string
}

type Env = Record<string, string | undefined>

/**
 * Where the store's warnings go: unreadable records and the like, which the operator should see,
 * printed on stderr once the command has done its work ({@link flushWarnings}). A command that
 * fails prints its one-line error instead: warnings about the connection that failed it would
 * only repeat it. Debug and info chatter is dropped.
 */
const pendingWarnings: string[] = []

export const stderrLogger: Logger = {
  debug() {},
  info() {},
  warn(message: string) {
    pendingWarnings.push(message.replace(/^fleet-breaker: /, ''))
  },
  error(message: string) {
    pendingWarnings.push(message.replace(/^fleet-breaker: /, ''))
  },
}

/** Prints the warnings gathered since the last call, each once, on stderr. */
export function flushWarnings(): void {
  for (const warning of new Set(pendingWarnings.splice(0))) process.stderr.write(`warning: ${warning}\n`)
}

/** Forgets the warnings gathered so far: the command failed and says why itself. */
export function dropWarnings(): void {
  pendingWarnings.splice(0)
}

/**
 * Client settings for an operator's command, which has no caller's deadline to keep and may run
 * over a slow network (a VPN, a far region): several seconds per request and the AWS SDK's
 * standard three attempts, where a function's hot path gives up within a second. `--timeout`
 * bounds the whole command on top of them.
 */
export const OPERATOR_CLIENT_SETTINGS = {
  dynamodb: { clientConfig: { maxAttempts: 3, requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 } } },
  redis: { clientConfig: { connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 } },
} as const satisfies Pick<StoreFromEnvironmentOptions, 'dynamodb' | 'redis'>

/** The store the options and the environment name, checked, before anything is opened. */
export interface StoreChoice {
  readonly kind: typeof StoreKind.DYNAMODB | typeof StoreKind.REDIS
  /** E.g. `DynamoDB table "circuit-breakers" (region eu-west-1)` or `Redis at redis://cache:6379`. */
  readonly target: string
  /** The table, for DynamoDB. */
  readonly table?: string
  /** The environment the storage factory reads: the process's, with the options laid over it. */
  readonly env: Env
}

/** A connected store and a description of it for error messages. */
export interface StoreConnection extends Omit<StoreChoice, 'env'> {
  readonly store: CircuitStore
  close(): Promise<void>
}

/**
 * Reads the store the options and the environment name. The CLI reads `CIRCUIT_BREAKER_STORE`,
 * `CIRCUIT_BREAKER_TABLE`, `CIRCUIT_BREAKER_REDIS_URL` and `CIRCUIT_BREAKER_KEY_PREFIX` exactly as
 * a function does; the AWS SDK itself honours `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`,
 * `AWS_PROFILE` and `AWS_REGION`; `--region` and, as with the AWS CLI, `AWS_DEFAULT_REGION` are
 * passed on to it.
 *
 * @example
 * ```ts
 * const choice = chooseStore({ store: 'redis', redisUrl: 'redis://127.0.0.1:6379' })
 * ```
 */
export function chooseStore(selection: StoreSelection, env: Env = process.env): StoreChoice {
  const kind = (selection.store ?? env[STORE_ENVIRONMENT_VARIABLES.STORE] ?? StoreKind.DYNAMODB).trim()
  if (kind === StoreKind.MEMORY) {
    throw new UsageError('--store memory keeps circuits inside one process; the CLI needs --store dynamodb or redis')
  }
  if (kind !== StoreKind.DYNAMODB && kind !== StoreKind.REDIS) {
    throw new UsageError(`--store must be dynamodb or redis; received "${kind}"`)
  }
  const merged: Env = {
    ...env,
    [STORE_ENVIRONMENT_VARIABLES.STORE]: kind,
    ...(selection.table === undefined ? {} : { [STORE_ENVIRONMENT_VARIABLES.TABLE]: selection.table }),
    ...(selection.redisUrl === undefined ? {} : { [STORE_ENVIRONMENT_VARIABLES.REDIS_URL]: selection.redisUrl }),
    ...(selection.keyPrefix === undefined ? {} : { [STORE_ENVIRONMENT_VARIABLES.KEY_PREFIX]: selection.keyPrefix }),
  }
  if (kind === StoreKind.REDIS) {
    return { kind, env: merged, target: `Redis at ${redactedUrl(merged[STORE_ENVIRONMENT_VARIABLES.REDIS_URL] ?? '')}` }
  }
  useRegion(selection.region, env)
  const table = merged[STORE_ENVIRONMENT_VARIABLES.TABLE] ?? ''
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL
  const where = [`region ${process.env.AWS_REGION ?? 'from the AWS config'}`, endpoint && `endpoint ${endpoint}`]
  return { kind, env: merged, table, target: `DynamoDB table "${table}" (${where.filter(Boolean).join(', ')})` }
}

/**
 * Opens the chosen store through the storage package's own factory, with the operator's client
 * settings ({@link OPERATOR_CLIENT_SETTINGS}).
 *
 * @example
 * ```ts
 * const connection = await openStore(chooseStore({ store: 'redis', redisUrl: 'redis://127.0.0.1:6379' }))
 * ```
 */
export async function openStore(choice: StoreChoice): Promise<StoreConnection> {
  let store: CircuitStore
  try {
    store = await createStoreFromEnvironment({ env: choice.env, logger: stderrLogger, ...OPERATOR_CLIENT_SETTINGS })
  } catch (error) {
    throw configurationProblem(error)
  }
  const { kind, target, table } = choice
  return { kind, target, ...(table === undefined ? {} : { table }), store, close: closeStores }
}

/** Closes every connection the CLI opened, those still being opened included; never rejects. */
export function closeStores(): Promise<void> {
  return closeStoresFromEnvironment()
}

/**
 * The DynamoDB client the store builds reads its region from the process environment (or the AWS
 * config file): `--region` goes there, and `AWS_DEFAULT_REGION` too when `AWS_REGION` is unset.
 */
function useRegion(region: string | undefined, env: Env): void {
  if (region !== undefined) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
      throw new UsageError(`--region must be an AWS region such as eu-west-1; received "${region}"`)
    }
    process.env.AWS_REGION = region
  } else if (env.AWS_REGION === undefined && env.AWS_DEFAULT_REGION !== undefined) {
    process.env.AWS_REGION = env.AWS_DEFAULT_REGION
  }
}

const FLAG_OF: Record<string, string> = {
  [STORE_ENVIRONMENT_VARIABLES.TABLE]: '--table',
  [STORE_ENVIRONMENT_VARIABLES.REDIS_URL]: '--redis-url',
  [STORE_ENVIRONMENT_VARIABLES.STORE]: '--store',
}

function configurationProblem(error: unknown): Error {
  if (!isInvalidConfigurationError(error)) return error instanceof Error ? error : new Error(String(error))
  const flag = FLAG_OF[error.option]
  if (error.option === STORE_ENVIRONMENT_VARIABLES.TABLE) {
    return new UsageError(`no DynamoDB table: pass --table or set ${STORE_ENVIRONMENT_VARIABLES.TABLE}`)
  }
  if (error.option === STORE_ENVIRONMENT_VARIABLES.REDIS_URL && (error.value === undefined || error.value === '')) {
    return new UsageError(`no Redis server: pass --redis-url or set ${STORE_ENVIRONMENT_VARIABLES.REDIS_URL}`)
  }
  const message = error.message.replace(error.option, flag === undefined ? error.option : `${flag} (${error.option})`)
  return new UsageError(message, { cause: error })
}

/** The URL without its password, for messages. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString().replace(/\/$/, '')
  } catch {
    return url
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])
const UNREACHABLE_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeoutError', 'StoreDeadlineError'])
const UNREACHABLE_MESSAGES =
  /Stream isn't writeable|Connection is closed|connect ECONNREFUSED|Command timed out|The client is closed|Socket closed unexpectedly|timed out/i
const CREDENTIAL_NAMES = new Set([
  'CredentialsProviderError',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'MissingAuthenticationTokenException',
])

/**
 * Turns a store failure into one line that says what to fix: a missing table, credentials, a
 * store that cannot be reached. Anything else keeps the store's own message.
 */
export function storeProblem(
  thrown: unknown,
  connection: Pick<StoreConnection, 'target' | 'kind' | 'table'>,
): CliError {
  // Input the admin refused (an actor too long, say) is the command line's to fix.
  if (isInvalidConfigurationError(thrown)) return new UsageError(thrown.message, { cause: thrown })
  // The admin reports an unreachable store as StoreUnavailableError; the store's own error says why.
  const error = isStoreUnavailableError(thrown) && thrown.cause !== undefined ? thrown.cause : thrown
  const failure = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | null
  const name = typeof failure?.name === 'string' ? failure.name : ''
  const message = firstLine(typeof failure?.message === 'string' ? failure.message : String(error))
  const code = codeOf(error)
  if (name === 'ResourceNotFoundException') {
    return new CliError(`${connection.target} does not exist: check --table (or CIRCUIT_BREAKER_TABLE) and --region`, {
      cause: error,
    })
  }
  if (/Region is missing/i.test(message)) {
    return new UsageError('no AWS region: pass --region or set AWS_REGION', { cause: error })
  }
  if (CREDENTIAL_NAMES.has(name) || /credential/i.test(message)) {
    return new CliError(`no valid AWS credentials for ${connection.target}: ${message}`, { cause: error })
  }
  if (name === 'AccessDeniedException') {
    return new CliError(`access denied to ${connection.target}: ${message}`, { cause: error })
  }
  if (
    (code !== undefined && UNREACHABLE_CODES.has(code)) ||
    UNREACHABLE_NAMES.has(name) ||
    UNREACHABLE_MESSAGES.test(message)
  ) {
    return new CliError(`cannot reach ${connection.target} (${code ?? message}): ${reachHint(connection.kind)}`, {
      cause: error,
    })
  }
  return new CliError(`${connection.target}: ${message}`, { cause: error })
}

/** What to check when a store does not answer. */
export function reachHint(kind: StoreChoice['kind']): string {
  return kind === StoreKind.REDIS
    ? 'check --redis-url (or CIRCUIT_BREAKER_REDIS_URL) and your network'
    : 'check --region, AWS_ENDPOINT_URL_DYNAMODB and your network'
}

/** The first system error code in `error` or its causes (SDKs wrap them). */
function codeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { code, errors } = current as { code?: unknown; errors?: unknown }
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code
    // An AggregateError from a connection attempt to each address of a host.
    if (Array.isArray(errors) && errors.length > 0) return codeOf(errors[0])
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? ''
}
