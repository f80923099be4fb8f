import { randomUUID } from 'node:crypto'
import { CircuitBreaker, CircuitState } from '@fleet-breaker/core'
import { type RedisClientLike, RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { recordingLogger } from '../../../../test-support/logger.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'

/*
 * The first invocation of a new execution environment: the client was created at module scope a
 * moment ago and is still connecting. Set up as the README recommends (no offline queue, so a
 * command on a client that is not ready fails at once), the store must still reach Redis on that
 * first call, rather than fail open and skip the store for the retry interval. A fault proxy slows
 * the connection's handshake down, as a TLS connection to a cache in another subnet would be.
 */

let server: RedisServer
let proxy: FaultProxy
const closers: Array<() => unknown> = []

beforeAll(async () => {
  server = await startRedisServer()
  proxy = await startFaultProxy({ target: { host: server.host, port: server.port }, protocol: 'resp' })
}, 30_000)

afterEach(async () => {
  proxy.passThrough()
  await Promise.all(closers.splice(0).map((close) => close()))
})

afterAll(async () => {
  await proxy?.stop()
  await server?.stop()
}, 30_000)

/** The handshake's answers (ioredis's ready check, node-redis's HELLO) arrive this late. */
const SLOW_HANDSHAKE_MS = 300

function slowHandshake(): void {
  proxy.delayReplies(SLOW_HANDSHAKE_MS, {
    match: ({ request }) => ['INFO', 'HELLO', 'CLIENT', 'PING', 'SELECT'].includes(request?.command?.[0] ?? ''),
  })
}

/** Module scope of a handler, as the README shows it: the client is created and not waited for. */
const coldClients = {
  ioredis: (): RedisClientLike => {
    const client = new Redis(proxy.url, {
      connectTimeout: 1_000,
      commandTimeout: 500,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
    })
    client.on('error', () => {})
    closers.push(() => client.disconnect())
    return client
  },
  'node-redis': (): RedisClientLike => {
    const client = createClient({ url: proxy.url, disableOfflineQueue: true, socket: { connectTimeout: 1_000 } })
    client.on('error', () => {})
    // Told to connect, not awaited: a handler module in CommonJS cannot await at the top level.
    client.connect().catch(() => {})
    closers.push(() => client.destroy())
    return client
  },
} as const

const kinds = ['ioredis', 'node-redis'] as const

/** The store as every other environment sees it: through a connection of its own, already ready. */
async function observer(keyPrefix: string): Promise<RedisStore> {
  const client = new Redis(server.url)
  closers.push(() => client.disconnect())
  return new RedisStore({ client, keyPrefix })
}

describe('the first call on a client still connecting', () => {
  it.each(kinds)('%s: a store write waits for the connection and reaches Redis', async (kind) => {
    slowHandshake()
    const keyPrefix = `cold:${randomUUID()}:`
    const store = new RedisStore({ client: coldClients[kind](), keyPrefix })
    const opId = randomUUID()
    const counted = await store.addFailure(
      'payments',
      { opId, generation: 0, now: Date.now(), windowMs: 60_000 },
      { signal: AbortSignal.timeout(5_000) },
    )
    expect(counted).toMatchObject({ failures: 1, incarnation: opId })
  })

  it.each(kinds)('%s: the breaker of a new environment counts its first failure in the store', async (kind) => {
    slowHandshake()
    const keyPrefix = `cold:${randomUUID()}:`
    const logger = recordingLogger()
    const breaker = new CircuitBreaker({
      circuitId: 'payments',
      store: new RedisStore({ client: coldClients[kind](), keyPrefix }),
      // Longer than the slow handshake: the connection is made within the call's deadline.
      storeTimeoutMs: 3_000,
      failureThreshold: 5,
      logger,
    })
    await expect(
      breaker.execute(async () => {
        throw Object.assign(new Error('downstream unavailable'), { statusCode: 503 })
      }),
    ).rejects.toThrow('downstream unavailable')
    // Not failed open: no store outage was reported, and the failure is in the store for the fleet.
    expect(logger.at('warn')).toEqual([])
    expect(await (await observer(keyPrefix)).get('payments')).toMatchObject({
      state: CircuitState.CLOSED,
      failures: 1,
    })
  })
})
