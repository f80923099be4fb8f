import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitState } from '@fleet-breaker/core'
import { type RedisClientLike, RedisStore } from '@fleet-breaker/storage/redis'
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'

/*
 * Behaviour that needs a server of its own, because it restarts, flushes, pauses or starves it: a
 * restart loses the data and empties the script cache (no persistence), a flush loses the data,
 * and the store must carry on, creating records afresh under a new incarnation. None of this ever
 * touches the shared test server.
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

const servers: RedisServer[] = []
const connections: Connection[] = []

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.close()))
  await Promise.all(servers.splice(0).map((server) => server.stop()))
}, 30_000)

async function startServer(): Promise<RedisServer> {
  const server = await startRedisServer()
  servers.push(server)
  return server
}

async function connect(kind: ClientKind, url: string): Promise<Connection> {
  const connection = await connectors[kind](url)
  connections.push(connection)
  return connection
}

/** An admin connection for commands the store never sends (FLUSHALL, SCRIPT FLUSH, CONFIG). */
async function admin(server: RedisServer): Promise<Redis> {
  const { client } = await connect('ioredis', server.url)
  return client as Redis
}

/** Retries `attempt` until it succeeds, for at most `ms` (generous: a busy machine reconnects slowly). */
async function eventually<T>(attempt: () => Promise<T>, ms = 15_000): Promise<T> {
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

function failure(store: RedisStore, opId = randomUUID(), generation = 0) {
  return store.addFailure('payments', { opId, generation, now: Date.now(), windowMs: LONG_WINDOW })
}

describe('a Redis server restarted without persistence', () => {
  it.each(kinds)(
    '%s: the store keeps working once the client has reconnected: a new incarnation, scripts reloaded',
    async (kind) => {
      const server = await startServer()
      const { client } = await connect(kind, server.url)
      const store = new RedisStore({ client })
      const first = await failure(store)
      expect(first).toMatchObject({ failures: 1, incarnation: expect.any(String) })

      await server.kill()
      await expect(store.get('payments')).rejects.toThrow()
      await server.restart()

      // The data is gone: the circuit starts afresh, and the scripts are gone too.
      expect(await eventually(() => store.get('payments'))).toBeUndefined()
      const evalCalls = jest.spyOn(client, 'eval')
      const opId = randomUUID()
      const again = await failure(store, opId)
      expect(again).toMatchObject({ state: CircuitState.CLOSED, failures: 1, incarnation: opId })
      expect(again.incarnation).not.toBe(first.incarnation)
      expect(await failure(store)).toMatchObject({ failures: 2, incarnation: opId })
      // `get` reloaded its own script; addFailure's came back once through EVAL, then by SHA1 again.
      expect(evalCalls).toHaveBeenCalledTimes(1)
    },
    60_000,
  )
})

describe('a Redis server flushed mid-run', () => {
  it.each(kinds)('%s: an environment holding a lost generation learns the circuit is new', async (kind) => {
    const server = await startServer()
    const store = new RedisStore({ client: (await connect(kind, server.url)).client })
    // Open and close the circuit so that the fleet holds generation 2.
    await failure(store)
    const open = await store.transition('payments', {
      opId: randomUUID(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 0 },
      now: Date.now(),
    })
    expect(open.applied).toBe(true)
    await store.transition('payments', {
      opId: randomUUID(),
      from: { state: CircuitState.OPEN, generation: 1 },
      to: { state: CircuitState.CLOSED },
      now: Date.now(),
    })
    const before = await failure(store, randomUUID(), 2)
    expect(before).toMatchObject({ generation: 2, failures: 1 })

    await (await admin(server)).flushall()

    // A failure aimed at the lost generation changes nothing and answers with the fresh circuit.
    const stale = await failure(store, randomUUID(), 2)
    expect(stale).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 0, incarnation: '' })
    expect(await store.get('payments')).toBeUndefined()
    // Counting resumes at the generation the store now holds, in a new incarnation.
    const opId = randomUUID()
    expect(await failure(store, opId)).toMatchObject({ generation: 0, failures: 1, incarnation: opId })
    expect(await failure(store)).toMatchObject({ failures: 2, incarnation: opId })
  })

  it.each(kinds)('%s: the scripts come back when the server has forgotten them (SCRIPT FLUSH)', async (kind) => {
    const server = await startServer()
    const { client } = await connect(kind, server.url)
    const store = new RedisStore({ client })
    await failure(store)
    await (await admin(server)).script('FLUSH')
    const evalCalls = jest.spyOn(client, 'eval')
    expect(await failure(store)).toMatchObject({ state: CircuitState.CLOSED, failures: 2 })
    expect(evalCalls).toHaveBeenCalledTimes(1)
    // The full source went once; from then on the script is called by its SHA1 again.
    expect(await failure(store)).toMatchObject({ failures: 3 })
    expect(evalCalls).toHaveBeenCalledTimes(1)
  })
})

describe('a server out of memory', () => {
  it('refuses a write whole: the record is left as it was, never half written', async () => {
    const server = await startServer()
    const redis = await admin(server)
    const store = new RedisStore({ client: redis })
    await failure(store)
    const key = store.keyFor('payments')
    const before = await redis.hgetall(key)
    // Below what the server already uses: every write that needs memory is refused from now on.
    await redis.config('SET', 'maxmemory-policy', 'noeviction')
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1])
    await redis.config('SET', 'maxmemory', String(Math.floor(used / 2)))

    await expect(failure(store)).rejects.toThrow(/OOM/)
    await expect(
      store.transition('payments', {
        opId: randomUUID(),
        from: { state: CircuitState.CLOSED, generation: 0 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
        now: Date.now(),
      }),
    ).rejects.toThrow(/OOM/)
    expect(await redis.hgetall(key)).toEqual(before)

    await redis.config('SET', 'maxmemory', '0')
    expect(await failure(store)).toMatchObject({ failures: 2 })
  })
})

describe('a server that stops answering', () => {
  it('rejects as soon as the caller gives up, without waiting for the server', async () => {
    const server = await startServer()
    const { client } = await connect('ioredis', server.url)
    const store = new RedisStore({ client })
    await store.get('payments') // connected, and the script cached
    await (await admin(server)).call('CLIENT', 'PAUSE', '3000', 'ALL')
    const started = Date.now()
    const reason = new Error('store deadline')
    const controller = new AbortController()
    setTimeout(() => controller.abort(reason), 50)
    await expect(store.get('payments', { signal: controller.signal })).rejects.toBe(reason)
    // Well before the pause ends: the store stopped waiting when the signal aborted.
    expect(Date.now() - started).toBeLessThan(2_000)
  }, 15_000)
})
