import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitState } from '@fleet-breaker/core'
import { type RedisClientLike, RedisStore } from '@fleet-breaker/storage/redis'
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { type PrivateRedis, startPrivateRedis } from '../../../../test-support/redis-setup.js'

/*
 * Behaviour that needs a server of its own, because it restarts or pauses it: a restart loses the
 * data and empties the script cache (no persistence), and the store must carry on once the client
 * has reconnected.
 */

interface Connection {
  readonly client: RedisClientLike
  close(): Promise<void>
}

/** Clients set up as on Lambda: reconnect quickly, and fail commands at once while disconnected. */
const connectors = {
  ioredis: async (url: string): Promise<Connection> => {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: () => 50,
    })
    // Connection errors while the server is away are expected; the commands report them.
    client.on('error', () => {})
    await client.connect()
    return {
      client,
      close: async () => {
        client.disconnect()
      },
    }
  },
  'node-redis': async (url: string): Promise<Connection> => {
    const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 50 } })
    client.on('error', () => {})
    await client.connect()
    return {
      client,
      close: async () => {
        client.destroy()
      },
    }
  },
} as const

type ClientKind = keyof typeof connectors
const kinds: readonly ClientKind[] = ['ioredis', 'node-redis']

const servers: PrivateRedis[] = []
const connections: Connection[] = []

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.close()))
  await Promise.all(servers.splice(0).map((server) => server.stop()))
})

async function startServer(port?: number): Promise<PrivateRedis> {
  const server = await startPrivateRedis(port)
  servers.push(server)
  return server
}

/** Stops a server once: `stop()` waits for an exit event, which a killed server does not send twice. */
async function stopServer(server: PrivateRedis): Promise<void> {
  servers.splice(servers.indexOf(server), 1)
  await server.stop()
}

async function connect(kind: ClientKind, url: string): Promise<Connection> {
  const connection = await connectors[kind](url)
  connections.push(connection)
  return connection
}

/** Retries `attempt` until it succeeds, for at most `ms`. */
async function eventually<T>(attempt: () => Promise<T>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await attempt()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(50)
    }
  }
}

const LONG_WINDOW = 600_000

describe('a Redis server restart', () => {
  it.each(kinds)(
    '%s: the store keeps working once the client has reconnected, reloading its scripts',
    async (kind) => {
      const first = await startServer()
      const { client } = await connect(kind, first.url)
      const store = new RedisStore({ client })
      const failure = () => store.addFailure('payments', { generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
      expect(await failure()).toMatchObject({ failures: 1 })

      await stopServer(first)
      await expect(store.get('payments')).rejects.toThrow()
      await startServer(first.port)

      // The restarted server has no persistence: the circuit starts afresh, and the scripts are gone.
      expect(await eventually(() => store.get('payments'))).toBeUndefined()
      const evalCalls = jest.spyOn(client, 'eval')
      expect(await failure()).toMatchObject({ state: CircuitState.CLOSED, failures: 1 })
      expect(await failure()).toMatchObject({ failures: 2 })
      // `get` reloaded its own script; addFailure's came back once through EVAL, then by SHA1 again.
      expect(evalCalls).toHaveBeenCalledTimes(1)
    },
    15_000,
  )
})

describe('a server that stops answering', () => {
  it('rejects as soon as the caller gives up, without waiting for the server', async () => {
    const server = await startServer()
    const { client } = await connect('ioredis', server.url)
    const store = new RedisStore({ client })
    await store.get('payments') // connected, and the script cached
    const admin = await connect('ioredis', server.url)
    await (admin.client as Redis).call('CLIENT', 'PAUSE', '3000', 'ALL')
    const started = Date.now()
    const reason = new Error('store deadline')
    const controller = new AbortController()
    setTimeout(() => controller.abort(reason), 50)
    await expect(store.get('payments', { signal: controller.signal })).rejects.toBe(reason)
    // Well before the pause ends: the store stopped waiting when the signal aborted.
    expect(Date.now() - started).toBeLessThan(2_000)
  }, 10_000)
})
