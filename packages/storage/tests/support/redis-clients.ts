import type { RedisClientLike } from '@fleet-breaker/storage/redis'
import { Redis } from 'ioredis'
import { createClient } from 'redis'

/** A connected client of either library the Redis store supports, and how to close it. */
export interface RedisConnection {
  readonly client: RedisClientLike
  close(): Promise<void>
}

const connectors = {
  ioredis: async (url: string): Promise<RedisConnection> => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    await client.connect()
    return {
      client,
      close: async () => {
        await client.quit()
      },
    }
  },
  'node-redis': async (url: string): Promise<RedisConnection> => {
    const client = createClient({ url })
    await client.connect()
    return { client, close: () => client.close() }
  },
} as const

export type RedisClientKind = keyof typeof connectors

/** Both client libraries, for tests that run against each. */
export const REDIS_CLIENT_KINDS: readonly RedisClientKind[] = ['ioredis', 'node-redis']

/** Opens a connection of its own with the given library. */
export function connectRedis(kind: RedisClientKind, url: string): Promise<RedisConnection> {
  return connectors[kind](url)
}
