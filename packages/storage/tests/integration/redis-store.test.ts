import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type ConformanceHarness, storeConformanceCases } from '@fleet-breaker/core/testing'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, afterEach, describe, it } from '@jest/globals'
import { Redis } from 'ioredis'
import { testRedisUrl } from '../../../../test-support/redis.js'
import {
  connectRedis,
  REDIS_CLIENT_KINDS,
  type RedisClientKind,
  type RedisConnection,
} from '../support/redis-clients.js'

/*
 * The store conformance suite against a real Redis, through both client libraries. Every store a
 * case creates has its own connection, as each Lambda execution environment would; they all share
 * the one server and a key prefix of their own per test.
 */

/** Keys of this file's run start with this, so they can be removed together afterwards. */
const RUN_PREFIX = `fleet-breaker-test:conformance:${randomUUID()}:`

const open: RedisConnection[] = []

async function connect(kind: RedisClientKind): Promise<RedisConnection> {
  const connection = await connectRedis(kind, testRedisUrl())
  open.push(connection)
  return connection
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((connection) => connection.close()))
})

afterAll(async () => {
  const admin = new Redis(testRedisUrl())
  try {
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 1_000)
      if (keys.length > 0) await admin.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    await admin.quit()
  }
})

function harnessFor(kind: RedisClientKind): ConformanceHarness {
  const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
  return {
    createStore: async () => new RedisStore({ client: (await connect(kind)).client, keyPrefix, ttlSeconds: 600 }),
    now: Date.now,
    advance: (ms) => sleep(ms),
    // The server decides with its own clock; answers come back in ours, a round trip apart at most.
    clockToleranceMs: 50,
  }
}

const kinds = REDIS_CLIENT_KINDS
const table = kinds.flatMap((kind) => storeConformanceCases.map((conformanceCase) => ({ kind, conformanceCase })))

describe('RedisStore conformance', () => {
  it.each(table)('$kind: $conformanceCase.name', async ({ kind, conformanceCase }) => {
    await conformanceCase.run(harnessFor(kind))
  })
})
