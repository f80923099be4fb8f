import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CircuitBreaker, CircuitState, type CircuitStore } from '@fleet-breaker/core'
import { InstrumentedStore } from '@fleet-breaker/core/testing'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * What each path of a call costs in requests to the backend (DynamoDB API calls, Redis commands),
 * counted on the wire side of the client. The package README's table of store operations per
 * path is these numbers.
 */

const TABLE = 'store-cost'
/** Shared by every environment of a run, as one Redis server is; circuit ids are unique per test. */
const REDIS_KEY_PREFIX = `cost-${randomUUID()}:`
let dynamo: LocalDynamoDB
const redisClients: Redis[] = []

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await Promise.all(redisClients.map((client) => client.quit()))
  await dynamo.stop()
})

interface CountedBackend {
  readonly name: string
  /** One environment's store (its own client), and the requests it has sent so far. */
  build(): Promise<{ store: CircuitStore; requests: () => { reads: number; writes: number } }>
}

/** Counts DynamoDB API calls through the client's middleware stack. */
async function countedDynamoDB() {
  const client = dynamo.client()
  const counts = { reads: 0, writes: 0 }
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (/^(GetItem|BatchGetItem)/.test(context.commandName ?? '')) counts.reads++
      else counts.writes++
      return next(args)
    },
    { step: 'initialize', name: 'countRequests' },
  )
  return { store: new DynamoDBStore({ tableName: TABLE, client }), requests: () => ({ ...counts }) }
}

/** Runs every script once, so a first-use EVAL (the server learning a script) does not blur a count. */
async function warmScripts(store: RedisStore): Promise<void> {
  const circuitId = `warm-${randomUUID()}`
  const now = Date.now()
  const write = () => ({ opId: randomUUID(), now })
  await store.get(circuitId)
  await store.addFailure(circuitId, { ...write(), generation: 0, windowMs: 1 })
  await store.resetFailures(circuitId, { ...write(), generation: 0 })
  await store.transition(circuitId, {
    ...write(),
    from: { state: CircuitState.CLOSED, generation: 0 },
    to: { state: CircuitState.HALF_OPEN, probe: { token: 'warm', leaseMs: 1 } },
  })
  await store.acquireProbe(circuitId, { ...write(), generation: 1, maxProbes: 1, token: 'warm', leaseMs: 1 })
  await store.completeProbe(circuitId, { ...write(), generation: 1, token: 'warm', success: true })
  await store.setForced(circuitId, write())
  await store.reset(circuitId, write())
  await store.clearMany([circuitId])
}

/**
 * Counts Redis round trips: every store operation must be exactly one EVALSHA, which counting the
 * client's EVALSHA calls checks; reads and writes are told apart by the store operation.
 */
async function countedRedis() {
  const client = new Redis(testRedisUrl(), { lazyConnect: true })
  await client.connect()
  redisClients.push(client)
  const redisStore = new RedisStore({ client, keyPrefix: REDIS_KEY_PREFIX })
  await warmScripts(redisStore)
  const evalsha = jest.spyOn(client, 'evalsha')
  const store = new InstrumentedStore(redisStore)
  return {
    store,
    requests: () => {
      expect(evalsha).toHaveBeenCalledTimes(store.roundTrips)
      return { reads: store.reads, writes: store.writes }
    },
  }
}

const backends: CountedBackend[] = [
  { name: 'DynamoDB', build: countedDynamoDB },
  { name: 'Redis', build: countedRedis },
]

describe.each(backends)('requests per path on $name', (backend) => {
  async function measure(
    options: { cacheTtlMs: number },
    prepare: (breaker: CircuitBreaker) => Promise<void>,
    path: (breaker: CircuitBreaker) => Promise<unknown>,
  ) {
    const { store, requests } = await backend.build()
    const breaker = new CircuitBreaker({
      circuitId: `cost-${randomUUID()}`,
      store,
      logger: silentLogger,
      // Counting requests must not depend on how fast an in-process server answers under load: a
      // missed deadline makes the breaker read again, which is right, but not what is measured.
      storeTimeoutMs: 10_000,
      failureThreshold: 2,
      resetTimeoutMs: 200,
      ...options,
    })
    await prepare(breaker)
    const before = requests()
    await path(breaker).catch(() => undefined)
    const after = requests()
    return { reads: after.reads - before.reads, writes: after.writes - before.writes }
  }
  const succeed = (breaker: CircuitBreaker) => breaker.execute(async () => 'ok')
  const fail = (breaker: CircuitBreaker) =>
    breaker.execute(async () => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 })))
  const warm = async (breaker: CircuitBreaker) => {
    await succeed(breaker)
  }

  it('healthy success, cache warm: no request', async () => {
    expect(await measure({ cacheTtlMs: 5_000 }, warm, succeed)).toEqual({ reads: 0, writes: 0 })
  })

  it('healthy success, cache off: one read, no write', async () => {
    expect(await measure({ cacheTtlMs: 0 }, warm, succeed)).toEqual({ reads: 1, writes: 0 })
  })

  it('failure below the threshold, cache warm: one write', async () => {
    expect(await measure({ cacheTtlMs: 5_000 }, warm, fail)).toEqual({ reads: 0, writes: 1 })
  })

  it('failure that opens the circuit: two writes (count, then transition)', async () => {
    const oneFailure = async (breaker: CircuitBreaker) => {
      await fail(breaker).catch(() => undefined)
    }
    expect(await measure({ cacheTtlMs: 5_000 }, oneFailure, fail)).toEqual({ reads: 0, writes: 2 })
  })

  it('success after a failure: one write to clear the count', async () => {
    const oneFailure = async (breaker: CircuitBreaker) => {
      await fail(breaker).catch(() => undefined)
    }
    expect(await measure({ cacheTtlMs: 5_000 }, oneFailure, succeed)).toEqual({ reads: 0, writes: 1 })
  })

  it('rejection while open, cache warm: no request', async () => {
    const open = async (breaker: CircuitBreaker) => {
      await fail(breaker).catch(() => undefined)
      await fail(breaker).catch(() => undefined)
    }
    expect(await measure({ cacheTtlMs: 5_000 }, open, succeed)).toEqual({ reads: 0, writes: 0 })
  })

  it('probe that closes the circuit: two writes (enter half-open holding the lease, close)', async () => {
    const openAndWait = async (breaker: CircuitBreaker) => {
      await fail(breaker).catch(() => undefined)
      await fail(breaker).catch(() => undefined)
      await sleep(220)
    }
    expect(await measure({ cacheTtlMs: 5_000 }, openAndWait, succeed)).toEqual({ reads: 0, writes: 2 })
  })

  it('20 environments recording their first failure together: one write each, nothing else', async () => {
    const environments = await Promise.all(Array.from({ length: 20 }, () => backend.build()))
    const circuitId = `first-failures-${randomUUID()}`
    // Each environment has read the (healthy) circuit once, as a breaker does on its first call.
    await Promise.all(environments.map(({ store }) => store.get(circuitId)))
    const before = environments.map(({ requests }) => requests())
    const records = await Promise.all(
      environments.map(({ store }) =>
        store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 60_000 }),
      ),
    )
    const spent = environments.reduce(
      (total, { requests }, index) => {
        const now = requests()
        const then = before[index] ?? { reads: 0, writes: 0 }
        return { reads: total.reads + now.reads - then.reads, writes: total.writes + now.writes - then.writes }
      },
      { reads: 0, writes: 0 },
    )
    expect(spent).toEqual({ reads: 0, writes: 20 })
    expect(
      records.map((record) => (record.state === CircuitState.CLOSED ? record.failures : 0)).sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 20 }, (_, index) => index + 1))
  }, 30_000)

  it('probe that fails: two writes (enter half-open, reopen)', async () => {
    const openAndWait = async (breaker: CircuitBreaker) => {
      await fail(breaker).catch(() => undefined)
      await fail(breaker).catch(() => undefined)
      await sleep(220)
    }
    expect(await measure({ cacheTtlMs: 5_000 }, openAndWait, fail)).toEqual({ reads: 0, writes: 2 })
  })
})
