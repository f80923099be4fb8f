import type { RedisClientLike } from '@fleet-breaker/storage/redis'
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster } from 'redis'

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

/** Where the nodes of a Redis Cluster listen. */
export interface ClusterAddress {
  readonly host: string
  readonly port: number
}

const clusterConnectors = {
  /** ioredis `Cluster`, as the README sets it up: no offline queue, one retry per request. */
  ioredis: async (nodes: readonly ClusterAddress[]): Promise<RedisConnection> => {
    const client = new Cluster(
      nodes.map(({ host, port }) => ({ host, port })),
      { enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } },
    )
    client.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('end', () => reject(new Error('the ioredis Cluster client could not connect')))
    })
    return {
      client,
      close: async () => {
        await client.quit()
      },
    }
  },
  /** node-redis `createCluster`, as the README sets it up: no offline queue. */
  'node-redis': async (nodes: readonly ClusterAddress[]): Promise<RedisConnection> => {
    const client = createCluster({
      rootNodes: nodes.map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
      defaults: { disableOfflineQueue: true },
    })
    client.on('error', () => {})
    await client.connect()
    return { client, close: () => client.close() }
  },
} as const

/** Opens a cluster client of its own with the given library. */
export function connectRedisCluster(kind: RedisClientKind, nodes: readonly ClusterAddress[]): Promise<RedisConnection> {
  return clusterConnectors[kind](nodes)
}
