import {
  type CircuitStore,
  InvalidConfigurationError,
  jsonConsoleLogger,
  type Logger,
  MemoryStore,
} from '@fleet-breaker/core'
import type { RedisClientLike } from './redis/index.js'

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
  /** The Redis or Valkey server, e.g. `rediss://my-cache.xxxxxx.use1.cache.amazonaws.com:6379`. */
  REDIS_URL: 'CIRCUIT_BREAKER_REDIS_URL',
  /** Put before circuit ids in keys (both backends). */
  KEY_PREFIX: 'CIRCUIT_BREAKER_KEY_PREFIX',
} as const

/** Options of {@link createStoreFromEnvironment}. */
export interface StoreFromEnvironmentOptions {
  /** Where to read the configuration. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Passed on to the store. */
  readonly logger?: Logger
}

/** Client settings for a store on the hot path: fail fast instead of queueing behind a dead server. */
const REDIS_CONNECT_TIMEOUT_MS = 1_000
const REDIS_COMMAND_TIMEOUT_MS = 500

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

/**
 * Builds the store the environment asks for, so switching backends is a configuration change:
 * `CIRCUIT_BREAKER_STORE=dynamodb` (the default, with `CIRCUIT_BREAKER_TABLE`), `redis` (with
 * `CIRCUIT_BREAKER_REDIS_URL`, through `ioredis` or, failing that, `redis`, whichever is
 * installed) or `memory`. Only the chosen backend's client library is loaded.
 *
 * The same configuration always gives the same store, so the client is created once per execution
 * environment even if this is called in the handler; calling it at module scope is still clearest.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from '@fleet-breaker/core'
 * import { createStoreFromEnvironment } from '@fleet-breaker/storage'
 *
 * const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: await createStoreFromEnvironment() })
 * ```
 */
export function createStoreFromEnvironment(options: StoreFromEnvironmentOptions = {}): Promise<CircuitStore> {
  const env = options.env ?? process.env
  const kind = env[STORE_ENVIRONMENT_VARIABLES.STORE]?.trim() || StoreKind.DYNAMODB
  const keyPrefix = env[STORE_ENVIRONMENT_VARIABLES.KEY_PREFIX]
  const table = env[STORE_ENVIRONMENT_VARIABLES.TABLE]
  const redisUrl = env[STORE_ENVIRONMENT_VARIABLES.REDIS_URL]
  const logger = options.logger ?? jsonConsoleLogger
  const cacheKey = JSON.stringify([kind, keyPrefix, table, redisUrl])
  const cached = stores.get(cacheKey)
  if (cached !== undefined) return cached
  let store: Promise<CircuitStore>
  switch (kind) {
    case StoreKind.DYNAMODB:
      store = dynamoDBStore(table, keyPrefix, logger)
      break
    case StoreKind.REDIS:
      store = redisStore(redisUrl, keyPrefix, logger)
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
      throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.STORE, kind, '"dynamodb", "redis" or "memory"')
  }
  // A failed attempt is not remembered, so a later call can try again.
  store.catch(() => stores.delete(cacheKey))
  stores.set(cacheKey, store)
  return store
}

async function dynamoDBStore(table: string | undefined, keyPrefix: string | undefined, logger: Logger) {
  if (table === undefined || table.trim() === '') {
    throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.TABLE, table, 'the name of the DynamoDB table')
  }
  const { DynamoDBStore } = await import('./dynamodb/index.js')
  const store = new DynamoDBStore({ tableName: table, logger, ...(keyPrefix === undefined ? {} : { keyPrefix }) })
  ownedClients.add(store)
  return store
}

async function redisStore(url: string | undefined, keyPrefix: string | undefined, logger: Logger) {
  if (url === undefined || !/^rediss?:\/\//.test(url)) {
    throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.REDIS_URL, url, 'a redis:// or rediss:// URL')
  }
  const [{ RedisStore }, client] = await Promise.all([import('./redis/index.js'), connectRedis(url, logger)])
  ownedClients.add(client as OwnedClient)
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
  stores.clear()
  const clients = [...ownedClients]
  ownedClients.clear()
  await Promise.all(clients.map(closeOwned))
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
 * Connects with ioredis, else node-redis, with timeouts that suit a call on the hot path and no
 * offline queue (a command to a server that is down fails at once and the breaker's outage policy
 * applies). Waits up to the connect timeout for the connection, so the first invocation finds it
 * ready, but never fails because of it; a connection still in progress after that is waited for by
 * the store itself, within each call's deadline.
 *
 * Connection errors go to the logger at debug level: the breaker reports a store outage once, as a
 * warning, and an error event nobody listens to would end the process (node-redis) or be printed
 * on every reconnection attempt (ioredis).
 *
 * Both clients keep their defaults for commands a dropped connection left unanswered: ioredis sends
 * them again once reconnected, node-redis fails them. Either is safe, since every write carries an
 * op id and the scripts apply it at most once.
 */
async function connectRedis(url: string, logger: Logger): Promise<RedisClientLike> {
  const onError = (error: unknown) => logger.debug('fleet-breaker: Redis client error', { error })
  const ioredis = await optionalImport('ioredis')
  if (ioredis !== undefined) {
    const Redis = (ioredis.default ?? ioredis.Redis) as Constructor
    const client = new Redis(url, {
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    })
    client.on('error', onError)
    await waitAtMost(new Promise<void>((resolve) => client.once('ready', resolve)), REDIS_CONNECT_TIMEOUT_MS)
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
      socket: { connectTimeout: REDIS_CONNECT_TIMEOUT_MS },
      disableOfflineQueue: true,
    })
    client.on('error', onError)
    await waitAtMost(client.connect(), REDIS_CONNECT_TIMEOUT_MS)
    return client as unknown as RedisClientLike
  }
  throw new InvalidConfigurationError(
    STORE_ENVIRONMENT_VARIABLES.STORE,
    StoreKind.REDIS,
    'a backend whose client is installed: add "ioredis" or "redis" to the function\'s dependencies',
  )
}
