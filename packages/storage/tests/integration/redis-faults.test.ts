import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, CircuitState, isStoreUnavailableError, type Logger } from '@fleet-breaker/core'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { Redis } from 'ioredis'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { freePort } from '../../../../test-support/redis-setup.js'
import { startTcpProxy, type TcpProxy } from '../../../../test-support/tcp-proxy.js'

/*
 * A breaker on a Redis store whose server cannot be reached: refused connections, a server that
 * accepts connections and never answers (a TCP proxy in black-hole mode in front of the real one),
 * and the way back. The caller always gets its own function's result within the store deadline.
 */

let proxy: TcpProxy
const clients: Redis[] = []

beforeAll(async () => {
  const { hostname, port } = new URL(testRedisUrl())
  proxy = await startTcpProxy({ host: hostname, port: Number(port || 6379) })
})

afterEach(() => {
  proxy.mode = 'forward'
})

afterAll(async () => {
  for (const client of clients) client.disconnect()
  await proxy.stop()
})

const serviceDown = async (): Promise<never> => {
  throw Object.assign(new Error('downstream unavailable'), { statusCode: 503 })
}

/** The client settings the package README recommends for a store on the hot path. */
function client(port: number): Redis {
  const created = new Redis({
    host: '127.0.0.1',
    port,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => 20,
  })
  created.on('error', () => {})
  clients.push(created)
  return created
}

function breakerOn(port: number, options: { storeOutage?: 'fail-open' | 'fail-closed'; logger?: Logger } = {}) {
  return new CircuitBreaker({
    circuitId: `redis-fault-${randomUUID()}`,
    store: new RedisStore({ client: client(port), keyPrefix: 'redis-faults:' }),
    storeTimeoutMs: 200,
    storeRetryIntervalMs: 100,
    cacheTtlMs: 0,
    failureThreshold: 2,
    logger: options.logger ?? recordingLogger(),
    ...(options.storeOutage === undefined ? {} : { storeOutage: options.storeOutage }),
  })
}

describe('a Redis server that cannot be reached', () => {
  it('refusing connections: the caller gets its own results, and one warning is logged', async () => {
    const logger = recordingLogger()
    const breaker = breakerOn(await freePort(), { logger })
    await expect(breaker.execute(async () => 'own result')).resolves.toBe('own result')
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('accepting connections and never answering: the breaker stops waiting at its deadline', async () => {
    const breaker = breakerOn(proxy.port)
    await breaker.getState() // connected through the proxy
    proxy.mode = 'black-hole'
    await sleep(50) // the client reconnects, into the black hole
    await expect(breaker.execute(async () => 'own result')).resolves.toBe('own result')
  })

  it('fails closed when configured to', async () => {
    proxy.mode = 'black-hole'
    const breaker = breakerOn(proxy.port, { storeOutage: 'fail-closed' })
    const error = await breaker.execute(async () => 'never called').catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
  })

  it('recovers when the server answers again: counts again and opens the circuit', async () => {
    const logger = recordingLogger()
    const breaker = breakerOn(proxy.port, { logger })
    await breaker.getState()
    proxy.mode = 'black-hole'
    await sleep(50)
    // One failure while the store cannot be reached: below the threshold, so the environment does
    // not stop calling on its own either.
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect((await breaker.getState()).source).toBe('cache')
    proxy.mode = 'forward'
    // The client reconnects; the breaker asks the store again after its retry interval.
    for (let attempt = 0; attempt < 100 && (await breaker.getState()).source === 'cache'; attempt++) await sleep(50)
    // Failures are counted in the store again until they open the circuit for the fleet.
    for (let attempt = 0; attempt < 3 && (await breaker.getState()).state === CircuitState.CLOSED; attempt++) {
      await expect(breaker.execute(serviceDown)).rejects.toThrow()
    }
    expect(await breaker.getState()).toMatchObject({ state: CircuitState.OPEN, source: 'store' })
    expect(logger.at('warn')).toHaveLength(1)
    expect(logger.at('info').some((entry) => /available again/.test(entry.message))).toBe(true)
  })
})
