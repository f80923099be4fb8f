import {
  type CircuitStore,
  InvalidConfigurationError,
  isPlainObject,
  jsonConsoleLogger,
  type Logger,
  MemoryStore,
  registerEnvironmentVariables,
  warnAboutMisspeltVariables,
} from '@fleet-breaker/core'
import type { DynamoDBStoreOptions } from './dynamodb/options.js'
import type { RedisClientLike } from './redis/client.js'
import { type ClientWithEvents, routeRedisClientErrors } from './redis/client-errors.js'

/** The backends a store can be built for from the environment. */
export const StoreKind = {
  DYNAMODB: 'dynamodb',
  REDIS: 'redis',
  MEMORY: 'memory',
} as const
export type StoreKind = (typeof StoreKind)[keyof typeof StoreKind]

/** The environment variables {@link createStoreFromEnvironment} reads. */
export const STORE_ENVIRONMENT_VARIABLES = {
  /** `dynamodb` (default), `redis` or `memory`. */
  STORE: 'CIRCUIT_BREAKER_STORE',
  /** The DynamoDB table. */
  TABLE: 'CIRCUIT_BREAKER_TABLE',
  /**
   * The Redis or Valkey server, e.g. `rediss://my-cache.xxxxxx.use1.cache.amazonaws.com:6379`.
   * When it is not set, {@link STORE_ENVIRONMENT_VARIABLES.REDIS_URL_FALLBACK} is used.
   */
  REDIS_URL: 'CIRCUIT_BREAKER_REDIS_URL',
  /**
   * The conventional `REDIS_URL`, read when `CIRCUIT_BREAKER_REDIS_URL` is not set: a function
   * whose Redis is already configured under that name needs nothing more (the demo and the tests
   * read the same two names, in the same order).
   */
  REDIS_URL_FALLBACK: 'REDIS_URL',
  /** Put before circuit ids in keys (both backends). */
  KEY_PREFIX: 'CIRCUIT_BREAKER_KEY_PREFIX',
} as const

registerEnvironmentVariables(
  Object.values(STORE_ENVIRONMENT_VARIABLES).filter((name) => name.startsWith('CIRCUIT_BREAKER_')),
)

/**
 * The Redis URL the environment gives: `CIRCUIT_BREAKER_REDIS_URL`, else `REDIS_URL`, with the
 * name it came from (for error messages).
 *
 * @example
 * ```ts
 * redisUrlFromEnvironment({ REDIS_URL: 'redis://cache:6379' }) // { url: 'redis://cache:6379', variable: 'REDIS_URL' }
 * ```
 */
export function redisUrlFromEnvironment(env: Readonly<Record<string, string | undefined>>): {
  readonly url: string | undefined
  readonly variable: string
} {
  const own = env[STORE_ENVIRONMENT_VARIABLES.REDIS_URL]
  if (own !== undefined && own.trim() !== '')
    return { url: own.trim(), variable: STORE_ENVIRONMENT_VARIABLES.REDIS_URL }
  const fallback = env[STORE_ENVIRONMENT_VARIABLES.REDIS_URL_FALLBACK]
  if (fallback !== undefined && fallback.trim() !== '') {
    return { url: fallback.trim(), variable: STORE_ENVIRONMENT_VARIABLES.REDIS_URL_FALLBACK }
  }
  return { url: undefined, variable: STORE_ENVIRONMENT_VARIABLES.REDIS_URL }
}

/**
 * Options of {@link createStoreFromEnvironment}.
 *
 * @example
 * ```ts
 * const options: StoreFromEnvironmentOptions = { env: { CIRCUIT_BREAKER_STORE: 'memory' }, logger: console }
 * ```
 */
export interface StoreFromEnvironmentOptions {
  /** Where to read the configuration. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * Passed on to the store, and where the Redis client's connection errors go (once per outage)
   * and a misspelt `CIRCUIT_BREAKER_*` variable is reported. Default: JSON lines on the console.
   */
  readonly logger?: Logger
  /**
   * Settings of the DynamoDB client the factory builds, used when the environment chooses
   * DynamoDB. Without them the client is tuned for a call on the hot path.
   */
  readonly dynamodb?: { readonly clientConfig?: DynamoDBClientSettings }
  /**
   * Settings of the Redis client the factory connects, used when the environment chooses Redis.
   * Without them the client is tuned for a call on the hot path.
   */
  readonly redis?: { readonly clientConfig?: RedisClientConfig }
}

/**
 * The AWS SDK's `DynamoDBClientConfig`, as `DynamoDBStore` takes it in `clientConfig`: what you give
 * is laid over the store's hot-path defaults (`DEFAULT_CLIENT_CONFIG` of
 * `@fleet-breaker/storage/dynamodb`), so `{ region: 'eu-west-1' }` keeps the short timeouts and
 * `{ maxAttempts: 3, requestHandler: { requestTimeout: 5_000 } }` replaces them. Typed here as any
 * object, so that the package root's types name nothing of the SDK: a Redis-only project need not
 * install it. (`DynamoDBStore`'s own `clientConfig` has the SDK's type.)
 */
export type DynamoDBClientSettings = object

/** What `DynamoDBStore` takes, reached through its options so this module imports nothing of the SDK. */
type DynamoDBClientConfig = NonNullable<DynamoDBStoreOptions['clientConfig']>

/**
 * Timeouts of the Redis client {@link createStoreFromEnvironment} connects, in milliseconds, in
 * terms both client libraries share. Each one left out keeps its hot-path default.
 *
 * @example
 * ```ts
 * const clientConfig: RedisClientConfig = { connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 }
 * ```
 */
export interface RedisClientConfig {
  /**
   * How long one connection attempt may take (ioredis `connectTimeout`, node-redis
   * `socket.connectTimeout`), and how long the factory waits for the first connection before it
   * returns the store. Default 1 000.
   */
  readonly connectTimeoutMs?: number
  /**
   * How long a command may wait for its answer (ioredis `commandTimeout`). node-redis has no
   * client-wide setting in every version this package supports, so there each call is bounded by
   * its own deadline only. Default 500.
   */
  readonly commandTimeoutMs?: number
}

/** Client settings for a store on the hot path: fail fast instead of queueing behind a dead server. */
const REDIS_CONNECT_TIMEOUT_MS = 1_000
const REDIS_COMMAND_TIMEOUT_MS = 500
/** The longest time Node.js timers take; a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647

/** The settings each backend's option takes; anything else is refused rather than ignored. */
const BACKEND_SETTINGS = { dynamodb: ['clientConfig'], redis: ['clientConfig'] } as const
const REDIS_CLIENT_SETTINGS: readonly (keyof RedisClientConfig)[] = ['connectTimeoutMs', 'commandTimeoutMs']

/** Settings of the Redis client with every default filled in. */
interface RedisTimeouts {
  readonly connectTimeoutMs: number
  readonly commandTimeoutMs: number
}

/** Checks `options.dynamodb` and `options.redis` before anything is built. */
function checkBackendSettings(options: StoreFromEnvironmentOptions): {
  readonly dynamodb: DynamoDBClientConfig | undefined
  readonly redis: RedisTimeouts
} {
  for (const backend of ['dynamodb', 'redis'] as const) {
    const settings: unknown = options[backend]
    if (settings === undefined) continue
    if (!isPlainObject(settings)) {
      throw new InvalidConfigurationError(backend, settings, '{ clientConfig } or absent')
    }
    for (const name of Object.keys(settings)) {
      if (!(BACKEND_SETTINGS[backend] as readonly string[]).includes(name)) {
        throw new InvalidConfigurationError(
          `${backend}.${name}`,
          settings[name],
          `nothing: the factory builds its own client from ${backend}.clientConfig (create the store yourself to give it a client)`,
        )
      }
    }
    if (settings.clientConfig !== undefined && !isPlainObject(settings.clientConfig)) {
      throw new InvalidConfigurationError(`${backend}.clientConfig`, settings.clientConfig, 'an object or absent')
    }
  }
  const redis: object = options.redis?.clientConfig ?? {}
  for (const name of Object.keys(redis)) {
    if (!(REDIS_CLIENT_SETTINGS as readonly string[]).includes(name)) {
      throw new InvalidConfigurationError(
        `redis.clientConfig.${name}`,
        Reflect.get(redis, name),
        `nothing: the settings are ${REDIS_CLIENT_SETTINGS.join(' and ')}`,
      )
    }
  }
  return {
    // Checked as a plain object above; its fields are the SDK's to check when the client is built.
    dynamodb: options.dynamodb?.clientConfig as DynamoDBClientConfig | undefined,
    redis: {
      connectTimeoutMs: timeoutSetting(
        'connectTimeoutMs',
        Reflect.get(redis, 'connectTimeoutMs'),
        REDIS_CONNECT_TIMEOUT_MS,
      ),
      commandTimeoutMs: timeoutSetting(
        'commandTimeoutMs',
        Reflect.get(redis, 'commandTimeoutMs'),
        REDIS_COMMAND_TIMEOUT_MS,
      ),
    },
  }
}

function timeoutSetting(name: keyof RedisClientConfig, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS) {
    throw new InvalidConfigurationError(
      `redis.clientConfig.${name}`,
      value,
      `a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`,
    )
  }
  return value
}

/** Numbers for the values JSON cannot tell apart (a credentials provider, a request handler), for cache keys. */
const identities = new WeakMap<object, number>()
let lastIdentity = 0

/**
 * The cache key of client settings: their plain data as JSON, and any function or class instance
 * in them by identity. Equal literals written in a handler give the same key, so such a call does
 * not build a client per invocation.
 */
function settingsKey(settings: unknown): string {
  return (
    JSON.stringify(settings, (_name, value: unknown) => {
      const plain = Array.isArray(value) || (isPlainObject(value) && isPlainPrototype(value))
      if (typeof value !== 'function' && (typeof value !== 'object' || value === null || plain)) {
        return typeof value === 'bigint' ? `${value}n` : value
      }
      let identity = identities.get(value)
      if (identity === undefined) {
        identity = ++lastIdentity
        identities.set(value, identity)
      }
      return { '#instance': identity }
    }) ?? ''
  )
}

function isPlainPrototype(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

const stores = new Map<string, Promise<CircuitStore>>()
/** What the factory may close: a store that owns its client, or a Redis client of either library. */
interface OwnedClient {
  quit?(): unknown
  close?(): unknown
  disconnect?(): unknown
  destroy?(): unknown
  /** ioredis: 'ready' once connected. */
  readonly status?: unknown
  /** node-redis: true once connected. */
  readonly isReady?: unknown
}

/** Connections the factory opened (and so owns), for {@link closeStoresFromEnvironment}. */
const ownedClients = new Set<OwnedClient>()

/**
 * Closes one client: gracefully when it is connected (pending commands finish), at once when it is
 * not. A client still trying to reach a server that is down cannot quit gracefully (without an
 * offline queue the QUIT itself fails), and would go on reconnecting.
 */
async function closeOwned(client: OwnedClient): Promise<void> {
  const showsConnection = client.status !== undefined || client.isReady !== undefined
  const connected = client.status === 'ready' || client.isReady === true
  const graceful = client.quit ?? client.close
  if (graceful !== undefined && (connected || !showsConnection)) {
    try {
      await graceful.call(client)
      return
    } catch {
      // Lost its connection meanwhile: close it at once below.
    }
  }
  await (client.disconnect ?? client.destroy)?.call(client)
}

/** The logger each owned client was created with, for what goes wrong while closing it. */
const loggerOf = new WeakMap<OwnedClient, Logger>()

/**
 * Builds the store the environment asks for, so switching backends is a configuration change:
 * `CIRCUIT_BREAKER_STORE=dynamodb` (the default, with `CIRCUIT_BREAKER_TABLE`), `redis` (with
 * `CIRCUIT_BREAKER_REDIS_URL`, else `REDIS_URL`, through `ioredis` or, failing that, `redis`,
 * whichever is installed) or `memory`. The chosen backend is loaded when it is chosen (a dynamic
 * `import()`), so with code splitting each backend is a chunk of its own that only its users load.
 *
 * The client is tuned for a call on the hot path: short timeouts and few retries, so a store that
 * is down costs a call little. A caller with no deadline of its own to keep (an operator's tool, a
 * migration script) can give the client more patience with `dynamodb.clientConfig` (the AWS SDK's
 * settings, laid over the hot-path ones) and `redis.clientConfig` (connect and command timeouts).
 *
 * The same configuration always gives the same store, so the client is created once per execution
 * environment even if this is called in the handler; calling it at module scope is still clearest.
 * Client settings are part of that configuration: equal plain values give the same store, and a
 * function or class instance in them (a credentials provider, say) counts by identity.
 * Bad configuration rejects the promise with `InvalidConfigurationError` naming the variable or
 * option; it never throws synchronously. A `CIRCUIT_BREAKER_*` variable that looks like a
 * misspelling of one fleet-breaker reads is reported once, as a warning naming the variable it
 * most likely meant.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@fleet-breaker/core'
 * import { createStoreFromEnvironment } from '@fleet-breaker/storage'
 *
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: await createStoreFromEnvironment() })
 *
 * // An operator's script: several seconds per request and the SDK's standard retries.
 * const patient = await createStoreFromEnvironment({
 *   dynamodb: { clientConfig: { maxAttempts: 3, requestHandler: { connectionTimeout: 3_000, requestTimeout: 5_000 } } },
 *   redis: { clientConfig: { connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 } },
 * })
 * ```
 */
export function createStoreFromEnvironment(options: StoreFromEnvironmentOptions = {}): Promise<CircuitStore> {
  try {
    return storeFromEnvironment(options)
  } catch (error) {
    // Anything that goes wrong reaches the caller through the promise, as with a rejected import.
    return Promise.reject(error)
  }
}

function storeFromEnvironment(options: StoreFromEnvironmentOptions): Promise<CircuitStore> {
  const env = options.env ?? process.env
  const logger = options.logger ?? jsonConsoleLogger
  warnAboutMisspeltVariables(env, logger)
  const clients = checkBackendSettings(options)
  const kind = env[STORE_ENVIRONMENT_VARIABLES.STORE]?.trim() || StoreKind.DYNAMODB
  const keyPrefix = env[STORE_ENVIRONMENT_VARIABLES.KEY_PREFIX]
  const table = env[STORE_ENVIRONMENT_VARIABLES.TABLE]
  const redis = redisUrlFromEnvironment(env)
  // Only the chosen backend's client settings make a store differ.
  const settings = kind === StoreKind.DYNAMODB ? clients.dynamodb : kind === StoreKind.REDIS ? clients.redis : null
  const cacheKey = JSON.stringify([kind, keyPrefix, table, redis.url, settingsKey(settings)])
  const cached = stores.get(cacheKey)
  if (cached !== undefined) return cached
  let store: Promise<CircuitStore>
  switch (kind) {
    case StoreKind.DYNAMODB:
      store = dynamoDBStore(table, keyPrefix, logger, clients.dynamodb)
      break
    case StoreKind.REDIS:
      store = redisStore(redis, keyPrefix, logger, clients.redis)
      break
    case StoreKind.MEMORY:
      if (env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
        logger.warn('fleet-breaker: CIRCUIT_BREAKER_STORE=memory keeps circuit state per execution environment', {
          functionName: env.AWS_LAMBDA_FUNCTION_NAME,
        })
      }
      store = Promise.resolve(new MemoryStore())
      break
    default:
      return Promise.reject(
        new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.STORE, kind, '"dynamodb", "redis" or "memory"'),
      )
  }
  // A failed attempt is not remembered, so a later call can try again.
  store.catch(() => stores.delete(cacheKey))
  stores.set(cacheKey, store)
  return store
}

async function dynamoDBStore(
  table: string | undefined,
  keyPrefix: string | undefined,
  logger: Logger,
  clientConfig: DynamoDBClientConfig | undefined,
) {
  if (table === undefined || table.trim() === '') {
    throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.TABLE, table, 'the name of the DynamoDB table')
  }
  const { DynamoDBStore } = await import('./dynamodb/index.js')
  const store = new DynamoDBStore({
    tableName: table,
    logger,
    ...(keyPrefix === undefined ? {} : { keyPrefix }),
    ...(clientConfig === undefined ? {} : { clientConfig }),
  })
  ownedClients.add(store)
  loggerOf.set(store, logger)
  return store
}

async function redisStore(
  redis: { readonly url: string | undefined; readonly variable: string },
  keyPrefix: string | undefined,
  logger: Logger,
  timeouts: RedisTimeouts,
) {
  const { url, variable } = redis
  if (url === undefined || !/^rediss?:\/\//.test(url)) {
    throw new InvalidConfigurationError(variable, url, 'a redis:// or rediss:// URL')
  }
  const [{ RedisStore }, client] = await Promise.all([import('./redis/index.js'), connectRedis(url, logger, timeouts)])
  ownedClients.add(client as OwnedClient)
  loggerOf.set(client as OwnedClient, logger)
  return new RedisStore({ client, logger, ...(keyPrefix === undefined ? {} : { keyPrefix }) })
}

/**
 * Closes the connections {@link createStoreFromEnvironment} opened and forgets its stores: for
 * tests, and for a graceful shutdown. A Lambda function does not need to call it.
 *
 * @example
 * ```ts
 * afterAll(() => closeStoresFromEnvironment())
 * ```
 */
export async function closeStoresFromEnvironment(): Promise<void> {
  // Stores still being created are waited for, so the connections they open are closed too
  // instead of reconnecting for ever (a test's afterAll racing its first invocation).
  const inFlight = [...stores.values()]
  stores.clear()
  await Promise.allSettled(inFlight)
  const clients = [...ownedClients]
  ownedClients.clear()
  // Never rejects: a client whose server is down, or one already closed, is closed as far as it
  // can be and the problem logged; calling this again does nothing.
  await Promise.all(
    clients.map(async (client) => {
      try {
        await closeOwned(client)
      } catch (error) {
        try {
          loggerOf.get(client)?.debug('fleet-breaker: a client did not close cleanly', { error })
        } catch {
          // A logger that throws changes nothing here.
        }
      }
    }),
  )
}

/** Loads a module by a name bundlers leave alone, so an absent optional peer costs nothing. */
async function optionalImport(name: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(name)) as Record<string, unknown>
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') return undefined
    throw error
  }
}

type Constructor = new (
  url: string,
  options: Record<string, unknown>,
) => {
  once(event: string, listener: () => void): unknown
  on(event: string, listener: (error: unknown) => void): unknown
}

/** Waits for `promise` for at most `ms`, never failing: a store that is down must not fail the init. */
async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

/**
 * Connects with ioredis, else node-redis, with `timeouts` (by default ones that suit a call on the
 * hot path) and no offline queue (a command to a server that is down fails at once and the
 * breaker's outage policy applies). Waits up to the connect timeout for the connection, so the first invocation finds it
 * ready, but never fails because of it; a connection still in progress after that is waited for by
 * the store itself, within each call's deadline.
 *
 * Connection errors go to the logger once per outage (see `redis/client-errors.ts`): an error
 * event nobody listens to would end the process (node-redis) or print a stack trace on every
 * reconnection attempt (ioredis).
 *
 * Both clients keep their defaults for commands a dropped connection left unanswered: ioredis sends
 * them again once reconnected, node-redis fails them. Either is safe, since every write carries an
 * op id and the scripts apply it at most once.
 */
async function connectRedis(url: string, logger: Logger, timeouts: RedisTimeouts): Promise<RedisClientLike> {
  const { connectTimeoutMs, commandTimeoutMs } = timeouts
  const ioredis = await optionalImport('ioredis')
  if (ioredis !== undefined) {
    const Redis = (ioredis.default ?? ioredis.Redis) as Constructor
    const client = new Redis(url, {
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    })
    routeRedisClientErrors(client as unknown as ClientWithEvents, { logger })
    await waitAtMost(new Promise<void>((resolve) => client.once('ready', resolve)), connectTimeoutMs)
    return client as unknown as RedisClientLike
  }
  const nodeRedis = await optionalImport('redis')
  if (nodeRedis !== undefined) {
    const createClient = nodeRedis.createClient as (options: Record<string, unknown>) => {
      connect(): Promise<unknown>
      on(event: string, listener: (error: unknown) => void): unknown
    }
    const client = createClient({
      url,
      socket: { connectTimeout: connectTimeoutMs },
      disableOfflineQueue: true,
    })
    routeRedisClientErrors(client as unknown as ClientWithEvents, { logger })
    await waitAtMost(client.connect(), connectTimeoutMs)
    return client as unknown as RedisClientLike
  }
  // The client is loaded by name, which bundlers leave alone: a bundled function that lists ioredis
  // in its dependencies still lacks it at run time unless it is shipped beside the bundle.
  throw new InvalidConfigurationError(
    STORE_ENVIRONMENT_VARIABLES.STORE,
    StoreKind.REDIS,
    'a backend whose client can be loaded: add "ioredis" or "redis" to the function\'s dependencies; ' +
      'a bundled function loads it by name at run time, so ship it beside the bundle (AWS CDK ' +
      'NodejsFunction: bundling.nodeModules ["ioredis"]) or create the store with a client of your own ' +
      '(new RedisStore({ client }) from @fleet-breaker/storage/redis)',
  )
}
