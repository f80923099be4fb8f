import { randomUUID } from 'node:crypto'
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { CircuitAdmin, CircuitState, HistoryAction } from '@fleet-breaker/core'
import { circuitTableDefinition, DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
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
 * What operators' data looks like in each store, and what the stores make of it when it is not
 * what they wrote: a history with corrupt entries is logged, read for what it holds, and cleaned up
 * by the next operator write; a listing leaves out foreign and unreadable data.
 */

const TABLE = 'operator-data'
const SINGLE_TABLE = 'operator-data-single'
const INDEXED_TABLE = 'operator-data-indexed'
const LIST_INDEX = 'by-sort-key'
const CORRUPT_HISTORY = '1000\tforce-open\talice\tdrill\t\ngarbage line\n2000\tmystery\tx\ty\t'
const RUN_PREFIX = `fleet-breaker-test:operator-data:${randomUUID()}:`

let dynamo: LocalDynamoDB
let redis: Redis

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  await dynamo.createTable(SINGLE_TABLE, { partitionKey: 'PK', sortKey: 'SK' })
  await dynamo.client().send(
    new CreateTableCommand(
      circuitTableDefinition({
        tableName: INDEXED_TABLE,
        partitionKey: 'PK',
        sortKeyName: 'SK',
        listIndexName: LIST_INDEX,
      }),
    ),
  )
  redis = new Redis(testRedisUrl())
})

afterAll(async () => {
  await dynamo.stop()
  await deleteKeysUnder(redis, RUN_PREFIX)
  await redis.quit()
})

describe('DynamoDB store', () => {
  it('reads a corrupt history for what it holds, logs it once, and cleans it up on the next operator write', async () => {
    const logger = recordingLogger()
    const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger })
    const circuitId = `corrupt-${randomUUID()}`
    await dynamo.client().send(
      new PutItemCommand({
        TableName: TABLE,
        Item: {
          id: { S: circuitId },
          state: { S: 'CLOSED' },
          generation: { N: '2' },
          openCount: { N: '0' },
          changedAt: { N: '5' },
          failures: { N: '0' },
          history: { S: CORRUPT_HISTORY },
        },
      }),
    )
    const record = await store.get(circuitId)
    expect(record?.history).toEqual([{ at: 1000, action: 'force-open', actor: 'alice', reason: 'drill' }])
    await store.get(circuitId)
    expect(logger.at('warn').filter((entry) => entry.details?.circuitId === circuitId)).toHaveLength(1)
    const admin = new CircuitAdmin({ store, actor: 'bob', logger: recordingLogger() })
    await admin.forceOpen(circuitId, { reason: 'after the corruption' })
    const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
    const lines = Item?.history?.S?.split('\n') ?? []
    expect(lines).toHaveLength(2)
    expect(lines[0]).toBe('1000\tforce-open\talice\tdrill\t')
    expect(lines[1]).toMatch(/^\d+\tforce-open\tbob\tafter the corruption\t$/)
    expect(Item?.forcedActor).toEqual({ S: 'bob' })
  })

  it('reads a history of the wrong type as none, and replaces it on the next operator write', async () => {
    const logger = recordingLogger()
    const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger })
    const circuitId = `typed-${randomUUID()}`
    await store.setForced(circuitId, { opId: randomUUID(), now: Date.now(), forced: { state: 'CLOSED', actor: 'a' } })
    await dynamo
      .client()
      .send(
        new PutItemCommand({ TableName: TABLE, Item: { ...(await rawItem(TABLE, circuitId)), history: { N: '7' } } }),
      )
    expect((await store.get(circuitId))?.history).toBeUndefined()
    const reset = await store.reset(circuitId, { opId: randomUUID(), now: Date.now(), actor: 'b' })
    expect(reset.history?.map((entry) => entry.action)).toEqual([HistoryAction.RESET])
  })

  it('lists only its own circuits in single-table mode, leaving out other items and unreadable ones', async () => {
    const logger = recordingLogger()
    const store = new DynamoDBStore({
      tableName: SINGLE_TABLE,
      client: dynamo.client(),
      logger,
      partitionKey: 'PK',
      sortKey: { name: 'SK', value: 'CIRCUIT' },
      keyPrefix: 'CIRCUIT#',
    })
    const admin = new CircuitAdmin({ store, actor: 'ops', logger: recordingLogger() })
    const ids = ['payment-api', 'email-api', 'search-api']
    for (const id of ids) await admin.forceClose(id, { reason: 'listed' })
    const put = (item: Record<string, { S: string }>) =>
      dynamo.client().send(new PutItemCommand({ TableName: SINGLE_TABLE, Item: item }))
    await put({ PK: { S: 'USER#1' }, SK: { S: 'PROFILE' }, name: { S: 'someone else’s item' } })
    await put({ PK: { S: 'CIRCUIT#ledger' }, SK: { S: 'AUDIT' } })
    await put({ PK: { S: 'CIRCUIT#broken' }, SK: { S: 'CIRCUIT' }, state: { S: 'MELTED' } })
    const listed: string[] = []
    let cursor: string | undefined
    do {
      const page = await admin.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) })
      listed.push(...page.circuits.map((circuit) => circuit.circuitId))
      cursor = page.cursor
    } while (cursor !== undefined)
    expect(listed.sort()).toEqual([...ids].sort())
    expect(logger.at('warn').some((entry) => entry.details?.circuitId === 'broken')).toBe(true)
  })

  it('lists nothing, in one page without a cursor, from an empty table', async () => {
    await dynamo.createTable('operator-data-empty')
    const store = new DynamoDBStore({ tableName: 'operator-data-empty', client: dynamo.client() })
    expect(await store.list({})).toEqual({ circuits: [] })
  })

  it('lists through an inverted index in single-table mode, reading only circuits', async () => {
    const store = new DynamoDBStore({
      tableName: INDEXED_TABLE,
      client: dynamo.client(),
      logger: recordingLogger(),
      partitionKey: 'PK',
      sortKey: { name: 'SK', value: 'CIRCUIT' },
      keyPrefix: 'CIRCUIT#',
      listIndexName: LIST_INDEX,
    })
    const admin = new CircuitAdmin({ store, actor: 'ops', logger: recordingLogger() })
    const ids = ['a', 'b', 'c', 'd', 'e']
    for (const id of ids) await admin.forceClose(id)
    for (let index = 0; index < 20; index++) {
      await dynamo
        .client()
        .send(
          new PutItemCommand({ TableName: INDEXED_TABLE, Item: { PK: { S: `ORDER#${index}` }, SK: { S: 'ORDER' } } }),
        )
    }
    const pages: string[][] = []
    let cursor: string | undefined
    do {
      const page = await admin.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) })
      pages.push(page.circuits.map((circuit) => circuit.circuitId))
      cursor = page.cursor
    } while (cursor !== undefined)
    expect(pages.flat().sort()).toEqual(ids)
    // Only circuits were read: full pages until the last (a scan would meet the orders too).
    expect(pages.slice(0, -1).every((page) => page.length === 2)).toBe(true)
    expect(() => new DynamoDBStore({ tableName: INDEXED_TABLE, client: dynamo.client(), listIndexName: 'x' })).toThrow(
      /listIndexName/,
    )
  })
})

describe('Redis store', () => {
  it('reads a corrupt history for what it holds, logs it once, and drops the corrupt lines on the next operator write', async () => {
    const logger = recordingLogger()
    const keyPrefix = `${RUN_PREFIX}${randomUUID()}:`
    const store = new RedisStore({ client: redis, keyPrefix, logger })
    const circuitId = 'payment-api'
    await redis.hset(store.keyFor(circuitId), {
      state: 'CLOSED',
      generation: '2',
      openCount: '0',
      changedAt: '5',
      failures: '0',
      history: CORRUPT_HISTORY,
    })
    const record = await store.get(circuitId)
    expect(record?.state).toBe(CircuitState.CLOSED)
    expect(record?.history?.map((entry) => entry.actor)).toEqual(['alice'])
    await store.get(circuitId)
    expect(logger.at('warn').filter((entry) => entry.details?.circuitId === circuitId)).toHaveLength(1)
    await store.setShadow(circuitId, {
      opId: randomUUID(),
      now: Date.now(),
      shadow: { actor: 'bob', reason: 'rollout' },
    })
    const lines = (await redis.hget(store.keyFor(circuitId), 'history'))?.split('\n') ?? []
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/^\d+\tshadow-on\tbob\trollout\t$/)
  })

  it('lists nothing from a prefix that holds no circuits, ending with no cursor', async () => {
    const store = new RedisStore({ client: redis, keyPrefix: `${RUN_PREFIX}${randomUUID()}:` })
    const listed: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await store.list({ limit: 1_000, ...(cursor === undefined ? {} : { cursor }) })
      listed.push(...page.circuits.map((circuit) => circuit.circuitId))
      cursor = page.cursor
      pages++
    } while (cursor !== undefined && pages < 10_000)
    expect({ listed, cursor }).toEqual({ listed: [], cursor: undefined })
  })

  it('lists only its own circuits, leaving out keys of other types, with a prefix holding glob characters', async () => {
    const logger = recordingLogger()
    const keyPrefix = `${RUN_PREFIX}${randomUUID()}:[*]?:`
    const store = new RedisStore({ client: redis, keyPrefix, logger })
    const admin = new CircuitAdmin({ store, actor: 'ops', logger: recordingLogger() })
    for (const id of ['a', 'b', 'c']) await admin.forceOpen(id)
    await redis.set(store.keyFor('not-a-hash'), 'plain string')
    await redis.set(`${RUN_PREFIX}other:{x}`, 'another prefix')
    const listed = new Set<string>()
    let cursor: string | undefined
    do {
      const page = await admin.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) })
      for (const circuit of page.circuits) listed.add(circuit.circuitId)
      cursor = page.cursor
    } while (cursor !== undefined)
    expect([...listed].sort()).toEqual(['a', 'b', 'c'])
    expect(logger.at('warn').some((entry) => entry.details?.circuitId === 'not-a-hash')).toBe(true)
  })
})

async function rawItem(table: string, circuitId: string) {
  const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: table, Key: { id: { S: circuitId } } }))
  return Item ?? {}
}
