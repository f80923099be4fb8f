import {
  type CircuitStore,
  InvalidConfigurationError,
  jsonConsoleLogger,
  type Logger,
  MemoryStore,
  registerEnvironmentVariables,
  warnAboutMisspeltVariables,
} from '@fleet-breaker/core'
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

/** The logger each owned client was created with, for what goes wrong while closing it. */
const loggerOf = new WeakMap<OwnedClient, Logger>()

/**
 * Builds the store the environment asks for, so switching backends is a configuration change:
 * `CIRCUIT_BREAKER_STORE=dynamodb` (the default, with `CIRCUIT_BREAKER_TABLE`), `redis` (with
 * `CIRCUIT_BREAKER_REDIS_URL`, else `REDIS_URL`, through `ioredis` or, failing that, `redis`,
 * whichever is installed) or `memory`. The chosen backend is loaded when it is chosen (a dynamic
 * `import()`), so with code splitting each backend is a chunk of its own that only its users load.
 *
 * The same configuration always gives the same store, so the client is created once per execution
 * environment even if this is called in the handler; calling it at module scope is still clearest.
 * Bad configuration rejects the promise with `InvalidConfigurationError` naming the variable; it
 * never throws synchronously. A `CIRCUIT_BREAKER_*` variable that looks like a misspelling of one
 * fleet-breaker reads is reported once, as a warning naming the variable it most likely meant.
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
  const kind = env[STORE_ENVIRONMENT_VARIABLES.STORE]?.trim() || StoreKind.DYNAMODB
  const keyPrefix = env[STORE_ENVIRONMENT_VARIABLES.KEY_PREFIX]
  const table = env[STORE_ENVIRONMENT_VARIABLES.TABLE]
  const redis = redisUrlFromEnvironment(env)
  const cacheKey = JSON.stringify([kind, keyPrefix, table, redis.url])
  const cached = stores.get(cacheKey)
  if (cached !== undefined) return cached
  let store: Promise<CircuitStore>
  switch (kind) {
    case StoreKind.DYNAMODB:
      store = dynamoDBStore(table, keyPrefix, logger)
      break
    case StoreKind.REDIS:
      store = redisStore(redis, keyPrefix, logger)
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

async function dynamoDBStore(table: string | undefined, keyPrefix: string | undefined, logger: Logger) {
  if (table === undefined || table.trim() === '') {
    throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.TABLE, table, 'the name of the DynamoDB table')
  }
  const { DynamoDBStore } = await import('./dynamodb/index.js')
  const store = new DynamoDBStore({ tableName: table, logger, ...(keyPrefix === undefined ? {} : { keyPrefix }) })
  ownedClients.add(store)
  loggerOf.set(store, logger)
  return store
}

async function redisStore(
  redis: { readonly url: string | undefined; readonly variable: string },
  keyPrefix: string | undefined,
  logger: Logger,
) {
  const { url, variable } = redis
  if (url === undefined || !/^rediss?:\/\//.test(url)) {
    throw new InvalidConfigurationError(variable, url, 'a redis:// or rediss:// URL')
  }
  const [{ RedisStore }, client] = await Promise.all([import('./redis/index.js'), connectRedis(url, logger)])
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
 * Connects with ioredis, else node-redis, with timeouts that suit a call on the hot path and no
 * offline queue (a command to a server that is down fails at once and the breaker's outage policy
 * applies). Waits up to the connect timeout for the connection, so the first invocation finds it
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
async function connectRedis(url: string, logger: Logger): Promise<RedisClientLike> {
  const ioredis = await optionalImport('ioredis')
  if (ioredis !== undefined) {
    const Redis = (ioredis.default ?? ioredis.Redis) as Constructor
    const client = new Redis(url, {
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    })
    routeRedisClientErrors(client as unknown as ClientWithEvents, { logger })
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
    routeRedisClientErrors(client as unknown as ClientWithEvents, { logger })
    await waitAtMost(client.connect(), REDIS_CONNECT_TIMEOUT_MS)
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
