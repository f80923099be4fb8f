import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitState, MAX_RECENT_OPS } from '@fleet-breaker/core'
import { type RedisClientLike, RedisStore, type RedisStoreOptions } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { type LuaScript, MAX_EXPIRY_MS, Scripts } from '../../src/redis/scripts.js'
import { connectRedis, type RedisClientKind, type RedisConnection } from '../support/redis-clients.js'
import { deleteKeysUnder } from '../support/redis-keys.js'

/*
 * What is particular to the Redis store, checked against a real server: the keys it writes, their
 * expiry, writes applied again, arguments checked before any write, foreign data under its keys,
 * and deciding with the server's clock while answering in each caller's. (Recovery from an emptied
 * script cache, a flush or a restart needs a server of its own: redis-private-server.test.ts.)
 */

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

/** A new op id, as the breaker gives every write. */
const op = (): string => randomUUID()

afterEach(async () => {
  await Promise.all(open.splice(0).map((connection) => connection.close()))
})

afterAll(async () => {
  const redis = await admin()
  await deleteKeysUnder(redis, RUN_PREFIX)
  await redis.quit()
})

describe('keys', () => {
  it('keeps each circuit in one hash under the prefix, with the circuit id as the hash tag', async () => {
    const keyPrefix = `${RUN_PREFIX}keys:`
    const { store } = await newStore({ keyPrefix })
    const opId = op()
    await store.addFailure('payment-api', { opId, generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
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
      incarnation: opId,
      recentOps: opId,
    })
  })

  it('uses fleet-breaker: as the default prefix', async () => {
    const { client } = await connect()
    expect(new RedisStore({ client }).keyFor('payment-api')).toBe('fleet-breaker:{payment-api}')
  })

  it('leaves only the fields of the new state after a transition', async () => {
    const { store } = await newStore()
    const now = Date.now()
    await store.addFailure('orders', { opId: op(), generation: 0, now, windowMs: LONG_WINDOW })
    await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'probe-a', leaseMs: 30_000 } },
      now,
    })
    await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.HALF_OPEN, generation: 1 },
      to: { state: CircuitState.OPEN, openCount: 2, retryInMs: 60_000 },
      now,
    })
    const fields = await (await admin()).hgetall(store.keyFor('orders'))
    // Besides the common fields and the new state's own: the transitions of generations 1 and 2.
    expect(Object.keys(fields).sort()).toEqual([
      'change1',
      'change2',
      'changedAt',
      'changedBy',
      'generation',
      'incarnation',
      'openCount',
      'retryAt',
      'state',
    ])
  })

  it('drops stray fields on the next write, keeping the record', async () => {
    const { store } = await newStore()
    const key = store.keyFor('orders')
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    await (await admin()).hset(key, { stray: 'field', probe3Token: 'left over' })
    const counted = await store.addFailure('orders', {
      opId: op(),
      generation: 0,
      now: Date.now(),
      windowMs: LONG_WINDOW,
    })
    expect(counted).toMatchObject({ failures: 2 })
    const fields = await (await admin()).hgetall(key)
    expect(fields).not.toHaveProperty('stray')
    expect(fields).not.toHaveProperty('probe3Token')
    expect(fields).toMatchObject({ failures: '2' })
  })

  it('leaves out a transition name that is not one, logs it, and drops it on the next write', async () => {
    const logger = recordingLogger()
    const { store } = await newStore({ logger })
    const key = store.keyFor('orders')
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    await (await admin()).hset(key, { change5: 'op-5', change6: '6' })
    expect((await store.get('orders'))?.recentChanges).toBeUndefined()
    expect(logger.at('warn').map((entry) => String(entry.details?.what))).toEqual([
      'malformed change5, change6 left out',
    ])
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const fields = await (await admin()).hgetall(key)
    expect(fields).not.toHaveProperty('change5')
    expect(fields).not.toHaveProperty('change6')
  })

  it.each([
    ['a transition', 'transition'],
    ['a reset', 'reset'],
  ] as const)('logs a malformed transition name that %s drops, and keeps the one it writes', async (_case, kind) => {
    const logger = recordingLogger()
    const { store } = await newStore({ logger })
    const key = store.keyFor('orders')
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    // One in the slot a transition to generation 1 writes, one elsewhere.
    await (await admin()).hset(key, { change1: 'junk one', change5: 'junk five' })
    const opId = op()
    if (kind === 'transition') {
      const outcome = await store.transition('orders', {
        opId,
        from: { state: CircuitState.CLOSED, generation: 0 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
        now: Date.now(),
      })
      // The answer names this transition: the malformed field it replaced is not read back over it.
      expect(outcome.record.recentChanges).toEqual([opId])
    } else {
      await store.reset('orders', { opId, now: Date.now() })
    }
    expect(logger.at('warn').map((entry) => String(entry.details?.what))).toEqual([
      kind === 'transition' ? 'malformed change5 left out' : 'malformed change1, change5 left out',
    ])
    const fields = await (await admin()).hgetall(key)
    expect(fields).not.toHaveProperty('change5')
  })
})

describe('writes applied again', () => {
  it('counts a failure sent twice once, and remembers at most the newest op ids', async () => {
    const { store } = await newStore()
    const request = { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW }
    const first = await store.addFailure('orders', request)
    expect(await store.addFailure('orders', request)).toEqual(first)
    for (let index = 0; index < MAX_RECENT_OPS + 5; index++) {
      await store.addFailure('orders', { ...request, opId: op() })
    }
    const many = await store.get('orders')
    expect(many).toMatchObject({ failures: MAX_RECENT_OPS + 6 })
    expect(many?.recentOps).toHaveLength(MAX_RECENT_OPS)
    expect(many?.recentOps).not.toContain(request.opId)
    expect(many?.incarnation).toBe(request.opId)
  })

  it('answers a transition sent twice as applied both times, and a rival as not applied', async () => {
    const { store } = await newStore()
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const request = {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      guard: { minFailures: 1 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
      now: Date.now(),
    } as const
    const first = await store.transition('orders', request)
    expect(first).toMatchObject({ applied: true, record: { generation: 1, changedBy: request.opId } })
    expect(await store.transition('orders', { ...request, opId: op() })).toMatchObject({ applied: false })
    expect(await store.transition('orders', request)).toEqual(first)
  })

  it('answers a probe request sent twice with the lease it took', async () => {
    const { store } = await newStore()
    await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'first', leaseMs: 30_000 } },
      now: Date.now(),
    })
    const request = { opId: 'second', generation: 1, maxProbes: 2, token: 'second', leaseMs: 30_000, now: Date.now() }
    const taken = await store.acquireProbe('orders', request)
    expect(taken.lease).toMatchObject({ slot: 1, token: 'second' })
    // Every slot is taken now, yet the retried request still answers with its own lease.
    expect(await store.acquireProbe('orders', request)).toEqual(taken)
    expect((await store.acquireProbe('orders', { ...request, opId: 'third', token: 'third' })).lease).toBeUndefined()
  })

  it('counts a probe completion sent twice once', async () => {
    const { store } = await newStore()
    await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'probe', leaseMs: 30_000 } },
      now: Date.now(),
    })
    const request = { opId: op(), generation: 1, token: 'probe', success: true, now: Date.now() }
    const first = await store.completeProbe('orders', request)
    expect(first).toMatchObject({ successes: 1, probes: [] })
    expect(await store.completeProbe('orders', request)).toEqual(first)
  })

  it('does not let a reset of the count sent again erase failures counted since', async () => {
    const { store } = await newStore()
    const failure = () =>
      store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    await failure()
    const reset = { opId: op(), generation: 0, now: Date.now() }
    expect(await store.resetFailures('orders', reset)).toMatchObject({ failures: 0 })
    await failure()
    expect(await store.resetFailures('orders', reset)).toMatchObject({ failures: 1 })
  })

  it('does not count a failure sent again after its window lapsed in the new window', async () => {
    const { store } = await newStore()
    const lapsed = { opId: op(), generation: 0, now: Date.now(), windowMs: -1 }
    expect(await store.addFailure('orders', lapsed)).toMatchObject({ failures: 1 })
    const next = await store.addFailure('orders', { ...lapsed, opId: op() })
    expect(next).toMatchObject({ failures: 1, recentOps: [lapsed.opId, expect.any(String)] })
    expect(await store.addFailure('orders', lapsed)).toEqual(next)
  })

  it('applies an override or a reset sent twice once', async () => {
    const { store } = await newStore()
    const forced = { opId: op(), forced: { state: CircuitState.OPEN, reason: 'incident' }, now: Date.now() } as const
    const first = await store.setForced('orders', forced)
    expect(first).toMatchObject({ generation: 1, changedBy: forced.opId, incarnation: forced.opId })
    expect(await store.setForced('orders', forced)).toEqual(first)
    const reset = { opId: op(), now: Date.now() }
    const afterReset = await store.reset('orders', reset)
    expect(afterReset).toMatchObject({ generation: 2, changedBy: reset.opId, incarnation: forced.opId })
    expect(await store.reset('orders', reset)).toEqual(afterReset)
    await store.setMany([{ circuitId: 'orders' }, { circuitId: 'billing' }], { opId: forced.opId, now: Date.now() })
    // The batch reused the override's op id: on 'orders' that write is not the latest, so it applies.
    expect(await store.get('orders')).toMatchObject({ generation: 3, changedBy: forced.opId })
    expect(await store.get('billing')).toMatchObject({ generation: 1, changedBy: forced.opId })
  })

  it('decides a half-open circuit only for a probe that holds a lease', async () => {
    const { store } = await newStore()
    await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'holder', leaseMs: 30_000 } },
      now: Date.now(),
    })
    const close = (probeToken: string) =>
      store.transition('orders', {
        opId: op(),
        from: { state: CircuitState.HALF_OPEN, generation: 1 },
        guard: { probeToken },
        to: { state: CircuitState.CLOSED },
        now: Date.now(),
      })
    expect(await close('stranger')).toMatchObject({ applied: false })
    expect(await close('holder')).toMatchObject({ applied: true, record: { state: CircuitState.CLOSED } })
  })
})

/** A script's arguments in its order, from their names ('' for those not given). */
function argv<Arg extends string>(script: LuaScript<Arg>, values: Readonly<Record<string, string>>): string[] {
  return script.args.map((name) => values[name] ?? '')
}

describe('arguments', () => {
  it('a script refuses a bad argument before it writes anything', async () => {
    const { store } = await newStore()
    await store.addFailure('orders', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const redis = await admin()
    const key = store.keyFor('orders')
    const ok = { ttlMs: '60000', opId: op(), generation: '0', windowMs: '1000' }
    const transition = {
      ...ok,
      fromState: 'CLOSED',
      fromGeneration: '0',
      retryDue: '0',
      hasProbeGuard: '0',
      toState: 'OPEN',
      openCount: '1',
      retryInMs: '1000',
    }
    const attempts: ReadonlyArray<readonly [string, readonly string[]]> = [
      [Scripts.addFailure.source, argv(Scripts.addFailure, { ...ok, opId: 'has space' })],
      [Scripts.addFailure.source, argv(Scripts.addFailure, { ...ok, windowMs: 'soon' })],
      [Scripts.addFailure.source, argv(Scripts.addFailure, { ...ok, environment: 'has space' })],
      [Scripts.addCounts.source, argv(Scripts.addCounts, { ...ok, calls: '-1', failures: '0', slowCalls: '0' })],
      [Scripts.reset.source, argv(Scripts.reset, { ...ok, ttlMs: '-1' })],
      [Scripts.setForced.source, argv(Scripts.setForced, { ...ok, forcedState: 'SIDEWAYS', hasReason: '0' })],
      [Scripts.setForced.source, argv(Scripts.setForced, { ...ok, forcedState: 'OPEN', hasReason: 'yes' })],
      [Scripts.transition.source, argv(Scripts.transition, { ...transition, openCount: '' })],
      [Scripts.transition.source, argv(Scripts.transition, { ...transition, fromIncarnation: 'not an id' })],
      [Scripts.transition.source, argv(Scripts.transition, { ...transition, toState: 'SIDEWAYS' })],
      [
        Scripts.acquireProbe.source,
        argv(Scripts.acquireProbe, { ...ok, maxProbes: '1.5', token: 'token', leaseMs: '1000' }),
      ],
    ]
    // The same arguments, all valid, run: the test above is not refusing for a reason of its own.
    await redis.eval(Scripts.transition.source, 1, key, ...argv(Scripts.transition, { ...transition, opId: op() }))
    const written = await redis.hgetall(key)
    expect(written).toMatchObject({ state: 'OPEN', generation: '1' })
    for (const [script, args] of attempts) {
      await expect(redis.eval(script, 1, key, ...args)).rejects.toThrow(/fleet-breaker: /)
    }
    expect(await redis.hgetall(key)).toEqual(written)
  })

  it('takes an override of a huge duration as "until the far future", bounding the key’s expiry', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    const now = Date.now()
    for (const durationMs of [Number.MAX_SAFE_INTEGER, 1e300, Number.MAX_VALUE]) {
      const forced = await store.setForced('orders', {
        opId: op(),
        forced: { state: CircuitState.OPEN, durationMs },
        now,
      })
      expect(forced.forced).toMatchObject({ state: CircuitState.OPEN })
      expect(forced.forced?.until).toBeGreaterThan(now + 1e15)
      const ttl = await (await admin()).pttl(store.keyFor('orders'))
      expect(ttl).toBeGreaterThan(99 * 365 * 24 * 3_600_000)
      expect(ttl).toBeLessThanOrEqual(MAX_EXPIRY_MS)
    }
    const open = await store.transition('orders', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 3 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 1e300 },
      now,
    })
    expect(open).toMatchObject({ applied: true, record: { state: CircuitState.OPEN } })
    expect(await store.get('orders')).toMatchObject({ state: CircuitState.OPEN, generation: 4 })
  })
})

describe('expiry', () => {
  async function pttl(store: RedisStore, circuitId: string): Promise<number> {
    return (await admin()).pttl(store.keyFor(circuitId))
  }

  it('gives every written record an expiry of ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.addFailure('a', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    const ttl = await pttl(store, 'a')
    expect(ttl).toBeGreaterThan(55_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
  })

  it('keeps an open circuit at least until its retry time, plus ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.transition('a', {
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 600_000 },
      now: Date.now(),
    })
    expect(await pttl(store, 'a')).toBeGreaterThan(655_000)
  })

  it('never expires a circuit forced without an end, and expires it again once cleared', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.addFailure('a', { opId: op(), generation: 0, now: Date.now(), windowMs: LONG_WINDOW })
    await store.setForced('a', {
      opId: op(),
      forced: { state: CircuitState.OPEN, reason: 'incident' },
      now: Date.now(),
    })
    expect(await pttl(store, 'a')).toBe(-1)
    await store.setForced('a', { opId: op(), now: Date.now() })
    expect(await pttl(store, 'a')).toBeGreaterThan(55_000)
  })

  it('keeps a circuit forced for a while at least until the override ends, plus ttlSeconds', async () => {
    const { store } = await newStore({ ttlSeconds: 60 })
    await store.setForced('a', {
      opId: op(),
      forced: { state: CircuitState.OPEN, durationMs: 3_600_000 },
      now: Date.now(),
    })
    expect(await pttl(store, 'a')).toBeGreaterThan(3_655_000)
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
      incarnation: '',
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
      opId: op(),
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
    const answer = await store.addFailure('orders', {
      opId: op(),
      generation: 5,
      now: Date.now(),
      windowMs: LONG_WINDOW,
    })
    expect(answer).toMatchObject({ state: CircuitState.CLOSED, generation: 0, failures: 0 })
    expect(await redis.get(store.keyFor('orders'))).toBe('hello')
  })

  it('resets foreign data to a fresh CLOSED record one generation on', async () => {
    const { store } = await newStore({ logger: recordingLogger() })
    await (await admin()).hset(store.keyFor('orders'), { state: 'SIDEWAYS', generation: '9' })
    const reset = await store.reset('orders', { opId: op(), now: Date.now() })
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
      opId: op(),
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

  // Times read back later are compared within a second: calls on a busy machine take a while, and
  // the skews are ten minutes.
  it('decides with the server clock and answers every caller in its own clock', async () => {
    // Three environments: A's clock runs 10 minutes fast, B's is right, C's runs 10 minutes slow.
    const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
    const a = (await newStore({ keyPrefix })).store
    const b = (await newStore({ keyPrefix })).store
    const c = (await newStore({ keyPrefix })).store
    const aheadNow = () => Date.now() + SKEW
    const behindNow = () => Date.now() - SKEW

    await a.addFailure('payments', { opId: op(), generation: 0, now: aheadNow(), windowMs: LONG_WINDOW })
    // A failure from a clock 20 minutes behind still lands in the same window: the server judges it.
    const second = await c.addFailure('payments', {
      opId: op(),
      generation: 0,
      now: behindNow(),
      windowMs: LONG_WINDOW,
    })
    expect(second).toMatchObject({ failures: 2 })
    expect(second.state === CircuitState.CLOSED && second.windowStartedAt).toBeGreaterThan(behindNow() - 1_000)

    const before = aheadNow()
    const opened = await a.transition('payments', {
      opId: op(),
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
    expect(Math.abs((inB?.state === CircuitState.OPEN ? inB.retryAt : 0) - (Date.now() + OPEN_FOR))).toBeLessThan(1_000)
    const inC = await c.get('payments', { now: behindNow() })
    expect(Math.abs((inC?.state === CircuitState.OPEN ? inC.retryAt : 0) - (behindNow() + OPEN_FOR))).toBeLessThan(
      1_000,
    )

    // The server stores its own time, not A's.
    const stored = Number(await (await admin()).hget(a.keyFor('payments'), 'retryAt'))
    expect(Math.abs(stored - (Date.now() + OPEN_FOR))).toBeLessThan(1_000)

    // By A's fast clock the retry time has long come; by the server's it has not, and the server decides.
    const early = await a.transition('payments', {
      opId: op(),
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
      opId: op(),
      from: { state: CircuitState.CLOSED, generation: 0 },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'a', leaseMs: 150 } },
      now: Date.now() - SKEW,
    })
    const request = { generation: 1, maxProbes: 1, token: 'b', leaseMs: 30_000 }
    // B's clock is 10 minutes fast, yet the lease is still live on the server.
    expect((await b.acquireProbe('x', { ...request, opId: op(), now: Date.now() + SKEW })).lease).toBeUndefined()
    await sleep(200)
    const taken = await b.acquireProbe('x', { ...request, opId: op(), now: Date.now() + SKEW })
    expect(taken.lease).toMatchObject({ slot: 0, token: 'b' })
    expect(Math.abs((taken.lease?.expiresAt ?? 0) - (Date.now() + SKEW + 30_000))).toBeLessThan(1_000)
  })

  it('reports a forced state in the caller clock', async () => {
    const { store } = await newStore()
    const now = Date.now() + SKEW
    const forced = await store.setForced('x', {
      opId: op(),
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
      store.addFailure('x', { opId: op(), generation: 0, now: Date.now(), windowMs: 1 }, { signal: controller.signal }),
    ).rejects.toBe(reason)
    await expect(store.clearMany(['x', 'y'], { signal: controller.signal })).rejects.toBe(reason)
    expect(evalShaCalls).not.toHaveBeenCalled()
  })
})
