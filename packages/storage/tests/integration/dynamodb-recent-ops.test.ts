import { randomUUID } from 'node:crypto'
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { type CircuitRecord, CircuitState, MAX_RECENT_OPS } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * The op ids of a generation's counting writes live in a list on the item: appended with
 * `list_append` under a `NOT contains` condition, and rolled over to the newest ids by the writer
 * that finds it at the soft limit; writers that lose that race append instead. The item of a busy
 * circuit stays small, and concurrent writers never queue behind a compare-and-swap: a burst
 * lengthens the list for a moment instead.
 */

const TABLE = 'recent-ops'
const SOFT_LIMIT = MAX_RECENT_OPS + 8
const HARD_LIMIT = 256

/** An item's size as DynamoDB bills it (names and values in bytes; numbers about half their digits). */
function billedSize(item: Record<string, AttributeValue>): number {
  const valueSize = (value: AttributeValue): number => {
    if (value.S !== undefined) return Buffer.byteLength(value.S)
    if (value.N !== undefined) return Math.ceil(value.N.replace(/^-|\./g, '').length / 2) + 1
    if (value.L !== undefined) return 3 + value.L.reduce((total, element) => total + 1 + valueSize(element), 0)
    return 1
  }
  return Object.entries(item).reduce((total, [name, value]) => total + Buffer.byteLength(name) + valueSize(value), 0)
}
let dynamo: LocalDynamoDB

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await dynamo.stop()
})

function newStore(): DynamoDBStore {
  return new DynamoDBStore({ tableName: TABLE, client: dynamo.client() })
}

async function storedOps(circuitId: string): Promise<string[]> {
  const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
  return (Item?.recentOps?.L ?? []).map((element) => element.S ?? '')
}

function failuresOf(record: CircuitRecord | undefined): number {
  return record?.state === CircuitState.CLOSED ? record.failures : -1
}

function failure(opId: string = randomUUID()) {
  return { opId, generation: 0, now: Date.now(), windowMs: 600_000 }
}

describe('the op-id list of a busy circuit', () => {
  it('stays bounded over many failures in one window, answering with the newest ids and recognising them', async () => {
    const store = newStore()
    const circuitId = `busy-${randomUUID()}`
    const opIds: string[] = []
    for (let count = 1; count <= 3 * HARD_LIMIT + 5; count++) {
      const request = failure()
      opIds.push(request.opId)
      const answer = await store.addFailure(circuitId, request)
      expect(failuresOf(answer)).toBe(count)
      expect(answer.recentOps).toEqual(opIds.slice(-MAX_RECENT_OPS))
      const stored = await storedOps(circuitId)
      expect(stored.length).toBeLessThanOrEqual(SOFT_LIMIT)
      expect(stored).toEqual(opIds.slice(-stored.length))
    }
    // Every write a record remembers, retried, changes nothing.
    for (const opId of opIds.slice(-MAX_RECENT_OPS)) {
      expect(failuresOf(await store.addFailure(circuitId, failure(opId)))).toBe(opIds.length)
    }
    // The item stays within two write units (2 KB), the least that 32 ids of 36 characters allow.
    const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
    expect(billedSize(Item ?? {})).toBeLessThan(2_048)
  }, 120_000)

  it('counts concurrent failures exactly when they arrive at a full list', async () => {
    const circuitId = `full-${randomUUID()}`
    const first = newStore()
    for (let count = 0; count < SOFT_LIMIT - 1; count++) await first.addFailure(circuitId, failure())
    const fleet = Array.from({ length: 20 }, () => newStore())
    await Promise.all(fleet.map((store) => store.get(circuitId)))
    const requests = fleet.map(() => failure())
    const answers = await Promise.all(
      fleet.map((store, index) => store.addFailure(circuitId, requests[index] ?? failure())),
    )
    answers.forEach((answer, index) => {
      expect(answer.recentOps).toContain(requests[index]?.opId)
    })
    expect(failuresOf(await first.get(circuitId))).toBe(SOFT_LIMIT - 1 + 20)
    expect((await storedOps(circuitId)).length).toBeLessThanOrEqual(HARD_LIMIT)
  }, 120_000)

  it('counts a burst of 100 first failures with one write each, then rolls the list back', async () => {
    const circuitId = `burst-${randomUUID()}`
    const fleet = Array.from({ length: 100 }, () => {
      const client = dynamo.client()
      let requests = 0
      client.middlewareStack.add(
        (next) => async (args) => {
          requests++
          return next(args)
        },
        { step: 'initialize', name: 'countRequests' },
      )
      return { store: new DynamoDBStore({ tableName: TABLE, client }), requests: () => requests }
    })
    await Promise.all(fleet.map(({ store }) => store.get(circuitId)))
    const before = fleet.reduce((total, { requests }) => total + requests(), 0)
    await Promise.all(fleet.map(({ store }) => store.addFailure(circuitId, failure())))
    expect(fleet.reduce((total, { requests }) => total + requests(), 0) - before).toBe(100)
    expect((await storedOps(circuitId)).length).toBe(100)
    const next = await newStore().addFailure(circuitId, failure())
    expect(failuresOf(next)).toBe(101)
    expect(await storedOps(circuitId)).toHaveLength(MAX_RECENT_OPS)
  }, 120_000)

  it('keeps the ids of the generation when a new window starts, so a late retry still counts once', async () => {
    const store = newStore()
    const circuitId = `window-${randomUUID()}`
    const early = { ...failure(), windowMs: 1 }
    await store.addFailure(circuitId, early)
    await store.addFailure(circuitId, { ...failure(), windowMs: 1 })
    const request = { ...failure(), now: Date.now() + 10, windowMs: 1 }
    const answer = await store.addFailure(circuitId, request)
    expect(answer).toMatchObject({ failures: 1 })
    expect(answer.recentOps).toHaveLength(3)
    expect(answer.recentOps?.at(-1)).toBe(request.opId)
    // The first failure's request, retried after its window lapsed, changes nothing.
    expect(await store.addFailure(circuitId, early)).toMatchObject({ failures: 1 })
  }, 30_000)
})
