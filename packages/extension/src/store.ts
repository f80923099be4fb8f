import { type CircuitStore, InvalidConfigurationError, type Logger } from '@fleet-breaker/core'
import {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  STORE_ENVIRONMENT_VARIABLES,
  StoreKind,
} from '@fleet-breaker/storage'

/** The store the extension serves, and how to let go of its connections at shutdown. */
export interface ExtensionStore {
  readonly kind: string
  readonly store: CircuitStore
  close(): Promise<void>
}

/** The same client settings the storage package's factory uses: fail fast instead of queueing. */
const REDIS_CONNECT_TIMEOUT_MS = 1_000
const REDIS_COMMAND_TIMEOUT_MS = 500

/**
 * Builds the store from the same `CIRCUIT_BREAKER_STORE` / `_TABLE` / `_REDIS_URL` / `_KEY_PREFIX`
 * variables as `createStoreFromEnvironment()`, which it uses for DynamoDB and memory.
 *
 * Redis is the exception: the storage factory loads its client library by a name chosen at run
 * time, which a single bundled file (and a single executable) cannot resolve. The extension ships
 * ioredis inside its bundle and connects it here with the factory's settings. It does not wait for
 * the connection: the store waits for a connecting client within each call's deadline, so a Redis
 * that is down at start never delays registration.
 */
export async function extensionStoreFromEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<ExtensionStore> {
  const kind = env[STORE_ENVIRONMENT_VARIABLES.STORE]?.trim() || StoreKind.DYNAMODB
  if (kind !== StoreKind.REDIS) {
    const store = await createStoreFromEnvironment({ env, logger })
    return { kind, store, close: () => closeStoresFromEnvironment() }
  }
  const url = env[STORE_ENVIRONMENT_VARIABLES.REDIS_URL]
  if (url === undefined || !/^rediss?:\/\//.test(url)) {
    throw new InvalidConfigurationError(STORE_ENVIRONMENT_VARIABLES.REDIS_URL, url, 'a redis:// or rediss:// URL')
  }
  // Loaded only for Redis (the bundle evaluates a module at its first import), so a function on
  // DynamoDB does not pay for ioredis at start, and the reverse.
  const [{ Redis }, { RedisStore }] = await Promise.all([import('ioredis'), import('@fleet-breaker/storage/redis')])
  const client = new Redis(url, {
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  })
  // An error event nobody listens to would be printed on every reconnection attempt; the breaker
  // reports an outage once, as a warning.
  client.on('error', (error: unknown) => logger.debug('Redis client error', { error }))
  const keyPrefix = env[STORE_ENVIRONMENT_VARIABLES.KEY_PREFIX]
  const store = new RedisStore({ client, logger, ...(keyPrefix === undefined ? {} : { keyPrefix }) })
  return {
    kind,
    store,
    async close() {
      if (client.status === 'ready') {
        try {
          await client.quit()
          return
        } catch {
          // Lost its connection meanwhile: close it at once below.
        }
      }
      client.disconnect()
    },
  }
}
