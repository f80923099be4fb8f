import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitState } from '@fleet-breaker/core'
import { type RedisClientLike, RedisStore, type RedisStoreOptions } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import {
  connectRedis,
  REDIS_CLIENT_KINDS,
  type RedisClientKind,
  type RedisConnection,
} from '../support/redis-clients.js'

/*
 * What is particular to the Redis store, checked against a real server: the keys it writes, their
 * expiry, recovery from an emptied script cache, foreign data under its keys, and deciding with the
 * server's clock while answering in each caller's.
 */

const kinds = REDIS_CLIENT_KINDS

const RUN_PREFIX = `fleet-breaker-test:behaviour:${randomUUID()}:`
const open: RedisConnection[] = []
let adminClient: Redis | undefined

/** A plain ioredis connection for looking at (and tampering with) what the store wrote. */
async function admin(): Promise<Redis> {
  adminClient ??= new Redis(testRedisUrl())
  return adminClient
}

async function connect(kind: RedisClientKind = 'ioredis'): Promise<RedisConnection> {
  const connection = await connectRedis(kind, testRedisUrl())
  open.push(connection)
  return connection
}

/** A store on a connection of its own, under a key prefix no other test uses. */
async function newStore(
  options: Omit<RedisStoreOptions, 'client'> = {},
  kind: RedisClientKind = 'ioredis',
): Promise<{ store: RedisStore; client: RedisClientLike }> {
  const { client } = await connect(kind)
  const keyPrefix = options.keyPrefix ?? `${RUN_PREFIX}${randomUUID()}:`
  return { store: new RedisStore({ ...options, client, keyPrefix }), client }
}

const LONG_WINDOW = 600_000

afterEach(async () => {
  await Promise.all(open.splice(0).map((connection) => connection.close()))
})

afterAll(async () => {
  const redis = await admin()
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 1_000)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()
})

describe('keys', () => {
  it('keeps each circuit in one hash under the prefix, with the circuit id as the hash tag', async () => {
    const keyPrefix = `${RUN_PREFIX}keys:`
    const { store } = await newStore({ keyPrefix })
    await store.addFailure('payment-api', { generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const key = `${keyPrefix}{payment-api}`
    expect(store.keyFor('payment-api')).toBe(key)
    const redis = await admin()
    expect(await redis.type(key)).toBe('hash')
    expect(await redis.hgetall(key)).toEqual({
      state: 'CLOSED',
      generation: '0',
      openCount: '0',
      changedAt: '0',
      failures: '1',
      windowStartedAt: expect.stringMatching(/^\d{13}$/),
    })
  })

  it('uses fleet-breaker: as the default prefix', async () => {
    const { client } = await connect()
    expect(new RedisStore({ client }).keyFor('payment-api')).toBe('fleet-breaker:{payment-api}')
  })

  it('leaves only the fields of the new state after a transition', async () => {
    const { store } = await newStore()
    const now = Date.now()
    await store.addFailure('orders', { generation: 0, now, windowMs: LONG_WINDOW })
    await store.transition('orders', {
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'probe-a', leaseMs: 30_000 } },
      now,
    })
    await store.transition('orders', {
      from: { state: CircuitState.HALF_OPEN, generation: 1 },
      to: { state: CircuitState.OPEN, openCount: 2, retryInMs: 60_000 },
      now,
    })
    const fields = await (await admin()).hgetall(store.keyFor('orders'))
    expect(Object.keys(fields).sort()).toEqual(['changedAt', 'generation', 'openCount', 'retryAt', 'state'])
  })
})

describe('expiry', () => {
  async function pttl(store: RedisStore, circuitId: string): Promise<number> {
    return (await admin()).pttl(store.keyFor(circuitId))
  }

  it('gives every written record an expiry of ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.addFailure('a', { generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const ttl = await pttl(store, 'a')
    expect(ttl).toBeGreaterThan(55_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
  })

  it('keeps an open circuit at least until its retry time, plus ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.transition('a', {
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 600_000 },
      now: Date.now(),
    })
    expect(await pttl(store, 'a')).toBeGreaterThan(655_000)
  })

  it('never expires a circuit forced without an end, and expires it again once cleared', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.addFailure('a', { generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    await store.setForced('a', { forced: { state: CircuitState.OPEN, reason: 'incident' }, now: Date.now() })
    expect(await pttl(store, 'a')).toBe(-1)
    await store.setForced('a', { now: Date.now() })
    expect(await pttl(store, 'a')).toBeGreaterThan(55_000)
  })

  it('keeps a circuit forced for a while at least until the override ends, plus ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.setForced('a', { forced: { state: CircuitState.OPEN, durationMs: 3_600_000 }, now: Date.now() })
    expect(await pttl(store, 'a')).toBeGreaterThan(3_655_000)
  })
})

describe('script cache', () => {
  it.each(kinds)('%s: recovers when the server has forgotten the scripts (SCRIPT FLUSH)', async (kind) => {
    const { store, client } = await newStore({}, kind)
    const now = Date.now()
    await store.addFailure('a', { generation: 0, now, windowMs: LONG_WINDOW })
    await (await admin()).script('FLUSH')
    const evalCalls = jest.spyOn(client, 'eval')
    const second = await store.addFailure('a', { generation: 0, now, windowMs: LONG_WINDOW })
    expect(second).toMatchObject({ state: CircuitState.CLOSED, failures: 2 })
    expect(evalCalls).toHaveBeenCalledTimes(1)
    // The full source went once; from then on the script is called by its SHA1 again.
    const third = await store.addFailure('a', { generation: 0, now, windowMs: LONG_WINDOW })
    expect(third).toMatchObject({ failures: 3 })
    expect(evalCalls).toHaveBeenCalledTimes(1)
  })
})

describe('unreadable data under a circuit key', () => {
  const tamperings: ReadonlyArray<{
    name: string
    write(redis: Redis, key: string): Promise<unknown>
    generation: number
    reason: RegExp
  }> = [
    { name: 'a string', write: (redis, key) => redis.set(key, 'hello'), generation: 0, reason: /string, not a hash/ },
    { name: 'a list', write: (redis, key) => redis.rpush(key, 'x'), generation: 0, reason: /list, not a hash/ },
    {
      name: 'a hash with an unknown state',
      write: (redis, key) =>
        redis.hset(key, { state: 'BROKEN', generation: '4', openCount: '0', changedAt: '1', failures: '0' }),
      generation: 4,
      reason: /unknown state "BROKEN"/,
    },
    {
      name: 'a hash missing fields',
      write: (redis, key) => redis.hset(key, { state: 'OPEN', generation: '2' }),
      generation: 2,
      reason: /missing or non-numeric openCount, changedAt, retryAt/,
    },
    {
      name: 'a hash with a non-numeric generation',
      write: (redis, key) =>
        redis.hset(key, { state: 'CLOSED', generation: 'seven', openCount: '0', changedAt: '0', failures: '0' }),
      generation: 0,
      reason: /missing or non-numeric generation/,
    },
    {
      name: 'a hash whose numbers are hexadecimal or padded',
      write: (redis, key) =>
        redis.hset(key, { state: 'CLOSED', generation: '3', openCount: '0x1', changedAt: ' 5', failures: 'nan' }),
      generation: 3,
      reason: /missing or non-numeric openCount, changedAt, failures/,
    },
  ]

  it.each(tamperings)('reads $name as CLOSED, logs it once and replaces it on the next write', async (tampering) => {
    const logger = recordingLogger()
    const { store } = await newStore({ logger })
    const key = store.keyFor('orders')
    const redis = await admin()
    await tampering.write(redis, key)

    const read = await store.get('orders')
    expect(read).toEqual({
      circuitId: 'orders',
      state: CircuitState.CLOSED,
      generation: tampering.generation,
      openCount: 0,
      changedAt: 0,
      failures: 0,
    })
    expect((await store.getMany(['orders'])).get('orders')).toEqual(read)
    expect(logger.at('warn')).toHaveLength(1)
    expect(logger.at('warn')[0]?.details).toMatchObject({ store: 'redis', circuitId: 'orders' })
    expect(String(logger.at('warn')[0]?.details?.reason)).toMatch(tampering.reason)

    const counted = await store.addFailure('orders', {
      generation: tampering.generation,
      now: Date.now(),
      windowMs: LONG_WINDOW,
    })
    expect(counted).toMatchObject({ state: CircuitState.CLOSED, generation: tampering.generation, failures: 1 })
    expect(await redis.type(key)).toBe('hash')
    expect(await redis.hget(key, 'failures')).toBe('1')
    expect(await store.get('orders')).toMatchObject({ failures: 1 })
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('leaves foreign data alone when a write addressed to another generation changes nothing', async () => {
    const logger = recordingLogger()
    const { store } = await newStore({ logger })
    const redis = await admin()
    await redis.set(store.keyFor('orders'), 'hello')
    const answer = await store.addFailure('orders', { generation: 5, now: Date.now(), windowMs: LONG_WINDOW })
    expect(answer).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 0 })
    expect(await redis.get(store.keyFor('orders'))).toBe('hello')
  })

  it('resets foreign data to a fresh CLOSED record one generation on', async () => {
    const { store } = await newStore({ logger: recordingLogger() })
    await (await admin()).hset(store.keyFor('orders'), { state: 'SIDEWAYS', generation: '9' })
    const reset = await store.reset('orders', { now: Date.now() })
    expect(reset).toMatchObject({ state: CircuitState.CLOSED, generation: 10, failures: 0, openCount: 0 })
  })

  it('ignores a half-written probe slot or override without discarding the record', async () => {
    const logger = recordingLogger()
    const { store } = await newStore({ logger })
    const serverNow = Date.now()
    await (await admin()).hset(store.keyFor('orders'), {
      state: 'HALF_OPEN',
      generation: '6',
      openCount: '2',
      changedAt: String(serverNow),
      successes: '1',
      probe0Token: 'kept',
      probe0ExpiresAt: String(serverNow + 30_000),
      probe1Token: 'no expiry',
      probe2ExpiresAt: String(serverNow + 30_000),
      forcedState: 'SIDEWAYS',
      forcedSince: String(serverNow),
      stray: 'field',
    })
    const record = await store.get('orders')
    expect(record).toMatchObject({ state: CircuitState.HALF_OPEN, generation: 6, successes: 1 })
    expect(record?.forced).toBeUndefined()
    expect(record?.state === CircuitState.HALF_OPEN && record.probes.map((lease) => lease.token)).toEqual(['kept'])
    expect(logger.at('warn')).toHaveLength(0)
    // The lowest free slot is 1: the half-written one holds no lease.
    const probe = await store.acquireProbe('orders', {
      generation: 6,
      maxProbes: 3,
      token: 'new',
      leaseMs: 30_000,
      now: Date.now(),
    })
    expect(probe.lease?.slot).toBe(1)
  })
})

describe('clocks', () => {
  const SKEW = 10 * 60_000
  const OPEN_FOR = 60_000

  it('decides with the server clock and answers every caller in its own clock', async () => {
    // Three environments: A's clock runs 10 minutes fast, B's is right, C's runs 10 minutes slow.
    const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
    const a = (await newStore({ keyPrefix })).store
    const b = (await newStore({ keyPrefix })).store
    const c = (await newStore({ keyPrefix })).store
    const aheadNow = () => Date.now() + SKEW
    const behindNow = () => Date.now() - SKEW

    await a.addFailure('payments', { generation: 0, now: aheadNow(), windowMs: LONG_WINDOW })
    // A failure from a clock 20 minutes behind still lands in the same window: the server judges it.
    const second = await c.addFailure('payments', { generation: 0, now: behindNow(), windowMs: LONG_WINDOW })
    expect(second).toMatchObject({ failures: 2 })
    expect(second.state === CircuitState.CLOSED && second.windowStartedAt).toBeGreaterThan(behindNow() - 1_000)

    const before = aheadNow()
    const opened = await a.transition('payments', {
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR },
      now: before,
    })
    expect(opened.applied).toBe(true)
    const inA = opened.record.state === CircuitState.OPEN ? opened.record.retryAt : Number.NaN
    expect(Math.abs(inA - (before + OPEN_FOR))).toBeLessThanOrEqual(50)
    expect(Math.abs(opened.record.changedAt - before)).toBeLessThanOrEqual(50)

    const inB = await b.get('payments', { now: Date.now() })
    expect(inB?.state).toBe(CircuitState.OPEN)
    expect(Math.abs((inB?.state === CircuitState.OPEN ? inB.retryAt : 0) - (Date.now() + OPEN_FOR))).toBeLessThan(100)
    const inC = await c.get('payments', { now: behindNow() })
    expect(Math.abs((inC?.state === CircuitState.OPEN ? inC.retryAt : 0) - (behindNow() + OPEN_FOR))).toBeLessThan(100)

    // The server stores its own time, not A's.
    const stored = Number(await (await admin()).hget(a.keyFor('payments'), 'retryAt'))
    expect(Math.abs(stored - (Date.now() + OPEN_FOR))).toBeLessThan(1_000)

    // By A's fast clock the retry time has long come; by the server's it has not, and the server decides.
    const early = await a.transition('payments', {
      from: { state: CircuitState.OPEN, generation: 1 },
      guard: { retryDue: true },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'a', leaseMs: 30_000 } },
      now: aheadNow() + OPEN_FOR,
    })
    expect(early.applied).toBe(false)
    expect(early.record).toMatchObject({ state: CircuitState.OPEN, generation: 1 })
  })

  it('lets a lease lapse by the server clock, whatever the caller believes', async () => {
    const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
    const a = (await newStore({ keyPrefix })).store
    const b = (await newStore({ keyPrefix })).store
    await a.transition('x', {
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'a', leaseMs: 150 } },
      now: Date.now() - SKEW,
    })
    const request = { generation: 1, maxProbes: 1, token: 'b', leaseMs: 30_000 }
    // B's clock is 10 minutes fast, yet the lease is still live on the server.
    expect((await b.acquireProbe('x', { ...request, now: Date.now() + SKEW })).lease).toBeUndefined()
    await sleep(200)
    const taken = await b.acquireProbe('x', { ...request, now: Date.now() + SKEW })
    expect(taken.lease).toMatchObject({ slot: 0, token: 'b' })
    expect(Math.abs((taken.lease?.expiresAt ?? 0) - (Date.now() + SKEW + 30_000))).toBeLessThan(100)
  })

  it('reports a forced state in the caller clock', async () => {
    const { store } = await newStore()
    const now = Date.now() + SKEW
    const forced = await store.setForced('x', {
      forced: { state: CircuitState.OPEN, reason: '', durationMs: 5_000 },
      now,
    })
    expect(forced.forced).toEqual({ state: CircuitState.OPEN, reason: '', since: now, until: now + 5_000 })
  })
})

describe('cancellation', () => {
  it('rejects without a round trip when the signal has already aborted', async () => {
    const { store, client } = await newStore()
    const evalShaCalls = jest.spyOn(client as Redis, 'evalsha')
    const controller = new AbortController()
    const reason = new Error('deadline passed')
    controller.abort(reason)
    await expect(store.get('x', { signal: controller.signal })).rejects.toBe(reason)
    await expect(
      store.addFailure('x', { generation: 0, now: Date.now(), windowMs: 1 }, { signal: controller.signal }),
    ).rejects.toBe(reason)
    await expect(store.clearMany(['x', 'y'], { signal: controller.signal })).rejects.toBe(reason)
    expect(evalShaCalls).not.toHaveBeenCalled()
  })
})
