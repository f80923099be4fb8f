import { setTimeout as sleep } from 'node:timers/promises'
import { closeStoresFromEnvironment, createStoreFromEnvironment } from '@fleet-breaker/storage'
import { routeRedisClientErrors } from '@fleet-breaker/storage/redis'
import { afterEach, describe, expect, it } from '@jest/globals'
import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { recordingLogger } from '../../../../test-support/logger.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'

/*
 * A Redis server that goes away makes its clients emit an error on every reconnection attempt.
 * They must reach the breaker's logger once per outage, never stderr, and closing the stores must
 * neither hang nor reject. Every test stops a server of its own.
 */

let server: RedisServer | undefined
const closers: Array<() => Promise<void> | void> = []

afterEach(async () => {
  for (const close of closers.splice(0)) await close()
  await closeStoresFromEnvironment()
  await server?.stop()
  server = undefined
})

/** Waits until `condition` holds, polling; fails after a generous time (a busy two-core machine). */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

interface Client {
  on(event: string, listener: (...args: unknown[]) => void): unknown
}

/** The two client libraries, reconnecting every 50 ms, each with an error counter of the test's own. */
const libraries: Array<[string, (url: string) => Promise<{ client: Client; close(): Promise<void> | void }>]> = [
  [
    'ioredis',
    async (url) => {
      const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
      return { client, close: () => client.disconnect() }
    },
  ],
  [
    'node-redis',
    async (url) => {
      const client = createClient({ url, socket: { reconnectStrategy: () => 50 } })
      return {
        client,
        close: async () => {
          if (client.isOpen) client.destroy()
        },
      }
    },
  ],
]

describe.each(libraries)('routeRedisClientErrors with %s', (_library, connect) => {
  it('logs one warning per outage, one entry when the client is back, and warns again on the next outage', async () => {
    server = await startRedisServer()
    const logger = recordingLogger()
    const { client, close } = await connect(server.url)
    closers.push(close)
    let errors = 0
    let ready = 0
    client.on('error', () => errors++)
    client.on('ready', () => ready++)
    routeRedisClientErrors(client, { logger })
    if ('connect' in client && typeof client.connect === 'function' && !('status' in client)) {
      await (client.connect as () => Promise<unknown>)()
    }
    await until(() => ready >= 1, 'the first connection')

    await server.kill()
    await until(() => errors >= 5, 'five reconnection errors')
    expect(logger.at('warn')).toHaveLength(1)
    expect(logger.at('warn')[0]?.message).toMatch(/cannot reach its server/)
    // The error's fields, not a stack trace (ioredis reports ECONNREFUSED, node-redis the closed socket first).
    expect(logger.at('warn')[0]?.details?.error).toEqual(expect.objectContaining({ message: expect.any(String) }))
    expect(JSON.stringify(logger.entries)).not.toMatch(/\n\s+at /) // no stack traces

    await server.restart()
    await until(() => logger.at('info').length === 1, 'the entry for the recovery')
    expect(logger.at('info')[0]?.message).toMatch(/connected again/)
    expect(logger.at('info')[0]?.details?.errors).toBeGreaterThanOrEqual(5)

    await server.kill()
    await until(() => logger.at('warn').length === 2, 'the warning for the second outage')
    const before = errors
    await until(() => errors >= before + 5, 'five more reconnection errors')
    expect(logger.at('warn')).toHaveLength(2)
  }, 90_000)
})

describe('closeStoresFromEnvironment', () => {
  it('resolves, twice, once the server of the Redis store it created has gone away', async () => {
    server = await startRedisServer()
    const logger = recordingLogger()
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: server.url },
      logger,
    })
    await expect(store.get('close-circuit')).resolves.toBeUndefined()
    await server.kill()
    await until(() => logger.at('warn').length === 1, 'the warning for the outage')
    await expect(store.get('close-circuit')).rejects.toThrow()
    await expect(closeStoresFromEnvironment()).resolves.toBeUndefined()
    await expect(closeStoresFromEnvironment()).resolves.toBeUndefined()
    expect(logger.at('warn')).toHaveLength(1)
  }, 60_000)

  it('also closes the connection of a store whose creation was still in flight', async () => {
    server = await startRedisServer()
    const observer = new Redis(server.url)
    closers.push(() => observer.disconnect())
    const connectedClients = async () => Number(/connected_clients:(\d+)/.exec(await observer.info('clients'))?.[1])
    await until(() => observer.status === 'ready', "the observer's connection")
    const creating = createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: server.url },
      logger: recordingLogger(),
    })
    // Concurrently too: both calls resolve, neither rejects.
    await expect(Promise.all([closeStoresFromEnvironment(), closeStoresFromEnvironment()])).resolves.toBeDefined()
    await creating
    let clients = await connectedClients()
    const deadline = Date.now() + 20_000
    while (clients > 1 && Date.now() < deadline) {
      await sleep(50)
      clients = await connectedClients()
    }
    expect(clients).toBe(1) // the observer alone
  }, 60_000)
})
