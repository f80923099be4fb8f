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
import { deleteKeysUnder } from '../support/redis-keys.js'

/*
 * The store conformance suite against a real Redis, through both client libraries. Every store a
 * case creates has its own connection, as each Lambda execution environment would; they all share
 * the one server and a key prefix of their own per case. The lost-record cases run twice: once
 * losing records through the store's own clearMany, once deleting the key behind its back.
 */

/** Keys of this file's run start with this, so they can be removed together afterwards. */
const RUN_PREFIX = `fleet-breaker-test:conformance:${randomUUID()}:`

const open: RedisConnection[] = []
let adminClient: Redis | undefined

async function connect(kind: RedisClientKind): Promise<RedisConnection> {
  const connection = await connectRedis(kind, testRedisUrl())
  open.push(connection)
  return connection
}

function admin(): Redis {
  adminClient ??= new Redis(testRedisUrl())
  return adminClient
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((connection) => connection.close()))
})

afterAll(async () => {
  const redis = admin()
  try {
    await deleteKeysUnder(redis, RUN_PREFIX)
  } finally {
    await redis.quit()
  }
})

function harnessFor(kind: RedisClientKind, behindTheStoresBack = false): ConformanceHarness {
  const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
  return {
    createStore: async () => new RedisStore({ client: (await connect(kind)).client, keyPrefix, ttlSeconds: 600 }),
    now: Date.now,
    advance: (ms) => sleep(ms),
    // The server reads its clock a round trip after the caller's `now`; on a busy machine that can
    // take a few hundred milliseconds (every duration the cases compare is seconds or more).
    clockToleranceMs: 500,
    // SCAN may return a key twice while the server resizes its key table.
    listMayRepeat: true,
    ...(behindTheStoresBack
      ? {
          loseRecord: async (circuitId: string) => {
            await admin().del(`${keyPrefix}{${circuitId}}`)
          },
        }
      : {}),
  }
}

const kinds = REDIS_CLIENT_KINDS
const table = kinds.flatMap((kind) => storeConformanceCases.map((conformanceCase) => ({ kind, conformanceCase })))
const lostRecordTable = table.filter(({ conformanceCase }) => conformanceCase.name.includes('lost record'))

describe('RedisStore conformance', () => {
  for (const { kind, conformanceCase } of table) {
    it(`${kind}: ${conformanceCase.name}`, () => conformanceCase.run(harnessFor(kind)), conformanceCase.timeoutMs)
  }
})

describe('RedisStore conformance, with records deleted behind the store’s back', () => {
  for (const { kind, conformanceCase } of lostRecordTable) {
    it(`${kind}: ${conformanceCase.name}`, () => conformanceCase.run(harnessFor(kind, true)), conformanceCase.timeoutMs)
  }
})
