import { type CircuitStore, MemoryStore } from '@fleet-breaker/core'
import { redisUrlFromEnvironment } from '@fleet-breaker/storage'

/** The shared stores a fleet can keep its circuit in. */
export const StoreKind = {
  MEMORY: 'memory',
  DYNAMODB: 'dynamodb',
  REDIS: 'redis',
} as const
export type StoreKind = (typeof StoreKind)[keyof typeof StoreKind]

/** The store kinds, in the order help texts list them. */
export const STORE_KINDS: readonly StoreKind[] = Object.values(StoreKind)

/** One environment's connection to the shared store. */
export interface StoreConnection {
  readonly store: CircuitStore
  /** Closes this environment's client. */
  close(): Promise<void>
}

/**
 * A shared store every environment of a fleet connects to with a client of its own, as separate
 * Lambda execution environments do.
 *
 * @example
 * ```ts
 * const backend = await startSharedStore('dynamodb')
 * const { store, close } = await backend.connect()
 * ```
 */
export interface SharedStoreBackend {
  readonly kind: StoreKind
  /** Where the state lives, for headings: `'DynamoDB (embedded dynalite)'`. */
  readonly description: string
  /**
   * The store deadline breakers on this backend should use, when the breaker's default (500 ms)
   * does not suit it; absent: the default.
   */
  readonly storeTimeoutMs?: number
  /** A new client of the store, for one environment, ready to use. */
  connect(): Promise<StoreConnection>
  /** Closes what the backend started (an embedded server), after its clients are closed. */
  close(): Promise<void>
}

/** Options of {@link startSharedStore}. */
export interface SharedStoreOptions {
  /**
   * The Redis server for `'redis'`; default as the library reads it (`CIRCUIT_BREAKER_REDIS_URL`,
   * else `REDIS_URL`), else `redis://127.0.0.1:6379`.
   */
  readonly redisUrl?: string
}

/**
 * Starts (or connects to) the shared store of `kind`: one {@link MemoryStore} in this process, an
 * embedded dynalite server for DynamoDB (nothing to set up), or a Redis server that must already
 * be running.
 *
 * @example
 * ```ts
 * const backend = await startSharedStore('redis', { redisUrl: 'redis://127.0.0.1:6379' })
 * try {
 *   // ... run fleets against it
 * } finally {
 *   await backend.close()
 * }
 * ```
 */
export async function startSharedStore(kind: StoreKind, options: SharedStoreOptions = {}): Promise<SharedStoreBackend> {
  switch (kind) {
    case StoreKind.MEMORY:
      return sharedMemoryStore()
    case StoreKind.DYNAMODB: {
      // Loaded on demand, so a run on another store does not load the AWS SDK.
      const { startDynamoDBBackend } = await import('./dynamodb-backend.js')
      return startDynamoDBBackend()
    }
    case StoreKind.REDIS: {
      const { connectRedisBackend } = await import('./redis-backend.js')
      const fromEnvironment = redisUrlFromEnvironment(process.env).url
      return connectRedisBackend(options.redisUrl ?? fromEnvironment ?? 'redis://127.0.0.1:6379')
    }
  }
}

/** One in-process store shared by every breaker: the fleet's state in a single process. */
function sharedMemoryStore(): SharedStoreBackend {
  const store = new MemoryStore()
  return {
    kind: StoreKind.MEMORY,
    description: 'one in-process memory store',
    connect: async () => ({ store, close: async () => {} }),
    close: async () => {},
  }
}
