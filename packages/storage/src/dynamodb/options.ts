import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { InvalidConfigurationError, jsonConsoleLogger, type Logger } from '@fleet-breaker/core'

/**
 * Anything that sends DynamoDB commands: a `DynamoDBClient`, or a `DynamoDBDocumentClient` (the
 * store sends it low-level commands, which it passes through unchanged).
 */
export interface DynamoDBCommandSender {
  send(command: never, options?: { abortSignal?: AbortSignal }): Promise<unknown>
}

/** The sort key of single-table mode: its attribute name and the value every circuit item uses. */
export interface SortKey {
  readonly name: string
  readonly value: string
}

interface DynamoDBStoreCommonOptions {
  /** The table. Default: the `CIRCUIT_BREAKER_TABLE` environment variable. */
  readonly tableName?: string
  /** The partition key attribute (a string). Default `'id'`. */
  readonly partitionKey?: string
  /** Single-table mode: the sort key attribute and the constant value circuit items use. */
  readonly sortKey?: SortKey
  /** Put before the circuit id in the partition key, e.g. `'CIRCUIT#'`. Default `''`. */
  readonly keyPrefix?: string
  /**
   * Single-table mode: a global secondary index whose partition key is the table's sort key
   * attribute and whose sort key is the table's partition key attribute (the inverted index of
   * single-table designs, all attributes projected). With it, `list` queries the index for the
   * circuits' sort key value (and key prefix) and reads only the circuits, instead of scanning the
   * whole table. Its reads are eventually consistent. Default: none (`list` scans).
   */
  readonly listIndexName?: string
  /** The attribute the table's TTL is enabled on, or `false` for none. Default `'expiresAt'`. */
  readonly ttlAttribute?: string | false
  /** How long after its last write an abandoned circuit expires. Default 604 800 (7 days). */
  readonly ttlSeconds?: number
  /** Strongly consistent reads (twice the read cost, never a stale view). Default `true`. */
  readonly consistentReads?: boolean
  /** Where unreadable items are reported. Default: JSON lines on the console. */
  readonly logger?: Logger
  /**
   * The caller's clock, in epoch milliseconds: the clock the `now` of your requests comes from (the
   * breaker's `now` option, if you inject one). The store reads it as each request leaves and as its
   * answer arrives, to learn how far it is from the service's clock. Default `Date.now`.
   */
  readonly now?: () => number
  /**
   * How long a store call made without an abort signal of its own (an operator's tool calling
   * `setMany`, `clearMany` or `get` directly) waits for each DynamoDB request, its retries included,
   * before it fails. Calls through a breaker carry the breaker's `storeTimeoutMs` deadline instead.
   * Default 5 000.
   */
  readonly callTimeoutMs?: number
}

/**
 * Options of {@link DynamoDBStore}: a `client` you built, or a `clientConfig` for the store to
 * build one from; never both.
 *
 * @example
 * ```ts
 * const store = new DynamoDBStore({ tableName: 'circuit-breakers', clientConfig: { region: 'eu-west-1' } })
 * ```
 */
export type DynamoDBStoreOptions = DynamoDBStoreCommonOptions &
  (
    | { readonly client: DynamoDBCommandSender; readonly clientConfig?: never }
    | { readonly client?: never; readonly clientConfig?: DynamoDBClientConfig }
  )

/**
 * The client settings the store uses when it builds the client, tuned for a call on the hot path:
 * a black-holed endpoint costs at most a connection timeout or a request timeout per attempt (the
 * SDK only warns about a request past its `requestTimeout` unless told to throw), and one retry
 * instead of the SDK's default two with backoff. Anything in `clientConfig` wins.
 */
export const DEFAULT_CLIENT_CONFIG = {
  maxAttempts: 2,
  requestHandler: { connectionTimeout: 250, requestTimeout: 500, throwOnRequestTimeout: true },
} as const satisfies DynamoDBClientConfig

export const DEFAULT_TTL_SECONDS = 604_800

/** See {@link DynamoDBStoreOptions.callTimeoutMs}. */
export const DEFAULT_CALL_TIMEOUT_MS = 5_000

/** Options with every default filled in. */
export interface ResolvedDynamoDBStoreOptions {
  readonly client: DynamoDBCommandSender
  /** Whether the store built the client, and so may destroy it. */
  readonly ownsClient: boolean
  readonly tableName: string
  readonly partitionKey: string
  readonly sortKey: SortKey | undefined
  readonly keyPrefix: string
  readonly listIndexName: string | undefined
  readonly ttlAttribute: string | undefined
  readonly ttlSeconds: number
  readonly consistentReads: boolean
  readonly logger: Logger
  readonly now: () => number
  readonly callTimeoutMs: number
}

function nonBlank(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidConfigurationError(option, value, 'a non-blank string')
  }
  return value
}

function resolveClient(options: DynamoDBStoreOptions): DynamoDBCommandSender {
  if (options.client !== undefined && options.clientConfig !== undefined) {
    throw new InvalidConfigurationError(
      'client',
      'both client and clientConfig',
      'either a client or a clientConfig, not both',
    )
  }
  if (options.client !== undefined) {
    const send: unknown = (options.client as { send?: unknown }).send
    if (typeof send !== 'function') {
      throw new InvalidConfigurationError('client', options.client, 'a DynamoDBClient or DynamoDBDocumentClient')
    }
    return options.client
  }
  const config = options.clientConfig ?? {}
  return new DynamoDBClient({ ...DEFAULT_CLIENT_CONFIG, ...config, requestHandler: requestHandlerOf(config) })
}

/**
 * The request handler of a client the store builds: the default one, or yours. Handler options you
 * give (rather than a handler) make the SDK throw at their `requestTimeout` unless they say otherwise.
 */
function requestHandlerOf(config: DynamoDBClientConfig): DynamoDBClientConfig['requestHandler'] {
  const handler = config.requestHandler
  if (handler === undefined) return DEFAULT_CLIENT_CONFIG.requestHandler
  const isOptions = typeof handler === 'object' && typeof (handler as { handle?: unknown }).handle !== 'function'
  return isOptions ? { throwOnRequestTimeout: true, ...handler } : handler
}

/**
 * Option names of Powertools' `DynamoDBPersistenceLayer` a Lambda user may reach for first, with
 * ours: given by mistake they would be ignored in silence, so they are refused by name.
 */
const POWERTOOLS_NAMES: Readonly<Record<string, string>> = {
  awsSdkV3Client: 'client',
  keyAttr: 'partitionKey',
  expiryAttr: 'ttlAttribute',
  sortKeyAttr: 'sortKey ({ name, value })',
  staticPkValue: 'keyPrefix and sortKey (single-table mode)',
}

/** Validates the options and fills in the defaults. */
export function resolveDynamoDBStoreOptions(
  options: DynamoDBStoreOptions,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ResolvedDynamoDBStoreOptions {
  for (const [name, ours] of Object.entries(POWERTOOLS_NAMES)) {
    const value: unknown = typeof options === 'object' && options !== null ? Reflect.get(options, name) : undefined
    if (value !== undefined) throw new InvalidConfigurationError(name, value, `nothing: this store calls it ${ours}`)
  }
  const tableName = options.tableName ?? env.CIRCUIT_BREAKER_TABLE
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new InvalidConfigurationError('ttlSeconds', ttlSeconds, 'an integer of 1 or more')
  }
  const ttlAttribute = options.ttlAttribute ?? 'expiresAt'
  const sortKey = options.sortKey
  if (sortKey !== undefined) {
    nonBlank('sortKey.name', sortKey.name)
    nonBlank('sortKey.value', sortKey.value)
  }
  const keyPrefix = options.keyPrefix ?? ''
  if (typeof keyPrefix !== 'string') throw new InvalidConfigurationError('keyPrefix', keyPrefix, 'a string')
  const listIndexName =
    options.listIndexName === undefined ? undefined : nonBlank('listIndexName', options.listIndexName)
  if (listIndexName !== undefined && sortKey === undefined) {
    throw new InvalidConfigurationError(
      'listIndexName',
      listIndexName,
      'set only in single-table mode (with sortKey): an index keyed on the sort key attribute',
    )
  }
  const now = options.now ?? Date.now
  if (typeof now !== 'function')
    throw new InvalidConfigurationError('now', now, 'a function returning epoch milliseconds')
  const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS
  if (!Number.isInteger(callTimeoutMs) || callTimeoutMs < 1) {
    throw new InvalidConfigurationError('callTimeoutMs', callTimeoutMs, 'an integer of 1 or more')
  }
  return {
    client: resolveClient(options),
    ownsClient: options.client === undefined,
    tableName: nonBlank(
      options.tableName === undefined ? 'tableName (from CIRCUIT_BREAKER_TABLE)' : 'tableName',
      tableName,
    ),
    partitionKey: nonBlank('partitionKey', options.partitionKey ?? 'id'),
    sortKey,
    keyPrefix,
    listIndexName,
    ttlAttribute: ttlAttribute === false ? undefined : nonBlank('ttlAttribute', ttlAttribute),
    ttlSeconds,
    consistentReads: options.consistentReads ?? true,
    logger: options.logger ?? jsonConsoleLogger,
    now,
    callTimeoutMs,
  }
}
