import { randomUUID } from 'node:crypto'
import { PutItemCommand } from '@aws-sdk/client-dynamodb'
import {
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  changeField,
  changeValue,
  generationMadeBy,
  MAX_RECENT_CHANGES,
} from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { deleteKeysUnder } from '../support/redis-keys.js'

// Every test here talks to an in-process DynamoDB or a real Redis; a loaded machine can be slow.
jest.setTimeout(30_000)

/*
 * A fleet in the middle of a deploy: writers of an earlier release move circuits on without naming
 * their transitions, so the field of a generation can still hold the maker of the generation one
 * window earlier. Read as the later generation's maker, it would have two environments report that
 * generation as their own; each store must read a field only for the generation it names.
 */

const TABLE = 'mixed-release-changes'
const RUN_PREFIX = `fleet-breaker-test:mixed-release:${randomUUID()}:`
// Generation 4's maker, whose field is also generation 12's (12 = 4 + MAX_RECENT_CHANGES).
const EARLY_GENERATION = 4
const LATER_GENERATION = EARLY_GENERATION + MAX_RECENT_CHANGES
const EARLY_MAKER = 'env-new:early'

let dynamo: LocalDynamoDB
let redis: Redis

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  redis = new Redis(testRedisUrl())
})

afterAll(async () => {
  await dynamo.stop()
  await deleteKeysUnder(redis, RUN_PREFIX)
  await redis.quit()
})

/** An open record at the later generation, made by an earlier release that left the early field. */
function leftByEarlierRelease(): Record<string, string> {
  return {
    state: CircuitState.OPEN,
    generation: String(LATER_GENERATION),
    openCount: '3',
    changedAt: '1000',
    retryAt: '2000',
    changedBy: 'env-old:later',
    incarnation: 'env-old:created',
    [changeField(EARLY_GENERATION)]: changeValue(EARLY_GENERATION, EARLY_MAKER),
  }
}

async function readBack(store: CircuitStore, circuitId: string): Promise<CircuitRecord> {
  const record = await store.get(circuitId)
  if (record === undefined) throw new Error(`${circuitId} is not in the store`)
  return record
}

interface Backend {
  name: string
  /** A store, with the record of `circuitId` written as `fields` by someone else. */
  seeded(circuitId: string, fields: Record<string, string>): Promise<CircuitStore>
}

const NUMERIC_FIELDS = new Set(['generation', 'openCount', 'changedAt', 'retryAt'])

const backends: Backend[] = [
  {
    name: 'DynamoDB',
    async seeded(circuitId, fields) {
      const item = Object.fromEntries(
        Object.entries(fields).map(([name, value]) => [name, NUMERIC_FIELDS.has(name) ? { N: value } : { S: value }]),
      )
      await dynamo.client().send(new PutItemCommand({ TableName: TABLE, Item: { id: { S: circuitId }, ...item } }))
      return new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger: recordingLogger() })
    },
  },
  {
    name: 'Redis',
    async seeded(circuitId, fields) {
      const store = new RedisStore({
        client: redis,
        keyPrefix: `${RUN_PREFIX}${randomUUID()}:`,
        logger: recordingLogger(),
      })
      await redis.hset(store.keyFor(circuitId), fields)
      return store
    },
  },
]

describe.each(backends)('$name store, with a writer of an earlier release in the fleet', (backend) => {
  it('does not read the field of a generation one window earlier as the maker of a later one', async () => {
    const circuitId = `mixed-${randomUUID()}`
    const store = await backend.seeded(circuitId, leftByEarlierRelease())
    const record = await readBack(store, circuitId)
    expect(record.generation).toBe(LATER_GENERATION)
    expect(generationMadeBy(record, EARLY_MAKER)).toBeUndefined()
    expect(record.recentChanges).toBeUndefined()
  })

  it('names its own transition past that field, still without the early maker', async () => {
    const circuitId = `mixed-${randomUUID()}`
    const store = await backend.seeded(circuitId, leftByEarlierRelease())
    const outcome = await store.transition(circuitId, {
      opId: 'env-new:probe',
      from: { state: CircuitState.OPEN, generation: LATER_GENERATION },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'probe-1', leaseMs: 30_000 } },
      now: 3000,
    })
    expect(outcome.applied).toBe(true)
    const record = await readBack(store, circuitId)
    expect(record.generation).toBe(LATER_GENERATION + 1)
    // The earlier release's generation is unknown, not the early maker's.
    expect(record.recentChanges).toEqual(['env-new:probe'])
    expect(generationMadeBy(record, 'env-new:probe')).toBe(LATER_GENERATION + 1)
    expect(generationMadeBy(record, EARLY_MAKER)).toBeUndefined()
  })
})
