import { Socket } from 'node:net'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { Redis } from 'ioredis'
import { type SharedStoreBackend, StoreKind } from './store-backend.js'

/** Client settings for a store on the hot path, as the storage README recommends. */
const CLIENT_OPTIONS = {
  connectTimeout: 1_000,
  commandTimeout: 500,
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
} as const

/**
 * Connects to a Redis (or Valkey) server that is already running; each
 * {@link SharedStoreBackend.connect} opens a connection of its own. Fails at once, saying how to
 * get a server, when none answers at `url`.
 *
 * @example
 * ```ts
 * const backend = await connectRedisBackend('redis://127.0.0.1:6379')
 * ```
 */
export async function connectRedisBackend(url: string): Promise<SharedStoreBackend> {
  if (!/^rediss?:\/\//.test(url))
    throw new Error(`The Redis URL must start with redis:// or rediss://; received "${url}".`)
  if (!(await answersPing(url))) {
    throw new Error(
      `No Redis server answered at ${url}.\n` +
        'Start one (redis-server, or docker run -p 6379:6379 redis), or set CIRCUIT_BREAKER_REDIS_URL (or REDIS_URL) to one that is running.',
    )
  }
  // Every run of a strategy uses a fresh circuit id, so runs never see each other's keys.
  const keyPrefix = 'fleet-simulation:'
  return {
    kind: StoreKind.REDIS,
    description: `Redis at ${url}`,
    async connect() {
      const client = new Redis(url, CLIENT_OPTIONS)
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve())
        client.once('error', (error: Error) => reject(error))
      }).catch((error: unknown) => {
        client.disconnect()
        throw error
      })
      const store = new RedisStore({ client, keyPrefix, ttlSeconds: 3_600 })
      return {
        store,
        async close() {
          await client.quit()
        },
      }
    },
    close: async () => {},
  }
}

/** Whether a server at `url` answers PING, without a client library (and its reconnect loop). */
async function answersPing(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url)
  const socket = new Socket()
  try {
    socket.setTimeout(timeoutMs)
    const answered = new Promise<boolean>((resolve) => {
      // A server that wants a password answers NOAUTH: it is there, and the client will say more.
      socket.once('data', (data) => resolve(/^(\+PONG|-NOAUTH)/.test(data.toString())))
      socket.once('error', () => resolve(false))
      socket.once('timeout', () => resolve(false))
    })
    socket.connect(Number(port || 6379), hostname.replace(/^\[|\]$/g, ''), () => socket.write('PING\r\n'))
    return await answered
  } finally {
    socket.destroy()
  }
}
