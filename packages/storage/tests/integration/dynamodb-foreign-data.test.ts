import { randomUUID } from 'node:crypto'
import { type AttributeValue, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { CircuitBreaker, CircuitState, type StateChange } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { recordingLogger } from '../../../../test-support/logger.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

/*
 * Items the store did not write, or wrote under another version, that it must survive: read
 * safely, reported once per circuit, repaired by the next write that touches them, never a crash.
 */

const TABLE = 'foreign-data'
const TEST_TIMEOUT_MS = 20_000
let dynamo: LocalDynamoDB

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await dynamo.stop()
})

type Attributes = Record<string, AttributeValue>

const n = (value: number | string): AttributeValue => ({ N: String(value) })
const s = (value: string): AttributeValue => ({ S: value })

/** A closed record at `generation` with one failure counted, as the store writes it. */
function closedItem(generation: number | string, extra: Attributes = {}): Attributes {
  const now = Date.now()
  return {
    state: s('CLOSED'),
    generation: n(generation),
    openCount: n(0),
    changedAt: n(now),
    failures: n(1),
    windowStartedAt: n(now),
    incarnation: s('created-before'),
    ...extra,
  }
}

/** The attributes a clean-up of malformed transition names writes, and nothing else does alone. */
const isCleanUpField = (name: string): boolean => /^change\d$|^expiresAt$/.test(name)

async function put(circuitId: string, attributes: Attributes): Promise<void> {
  await dynamo.client().send(new PutItemCommand({ TableName: TABLE, Item: { id: s(circuitId), ...attributes } }))
}

async function rawItem(circuitId: string): Promise<Attributes | undefined> {
  const { Item } = await dynamo.client().send(new GetItemCommand({ TableName: TABLE, Key: { id: s(circuitId) } }))
  return Item
}

function storeWithLog() {
  const logger = recordingLogger()
  return { logger, store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger }) }
}

describe('items that are not records: read as fresh CLOSED circuits, replaced by the next write', () => {
  // The item, the generation it reads as, and the generation an override on it starts. No condition
  // can tell a fractional number from a whole one: the override applies, the store sees an
  // unreadable answer, repairs the item and applies the override again, one generation later.
  const unreadable: Array<[string, Attributes, number, number]> = [
    ['a generation past 2^53', closedItem('9007199254740993'), 0, 1],
    ['a generation of 2^53 exactly', closedItem('9007199254740992'), 0, 1],
    ['a negative generation', closedItem(-3), 0, 1],
    ['a fractional failure count', closedItem(4, { failures: n(1.5) }), 4, 6],
    ['a failure count past 2^53', closedItem(4, { failures: n('9007199254740993') }), 4, 5],
    ['an incarnation that is not an op id', closedItem(4, { incarnation: s('has spaces in it') }), 4, 5],
    ['an incarnation of the wrong type', closedItem(4, { incarnation: n(12) }), 4, 5],
  ]

  it.each(unreadable)(
    'an item with %s',
    async (_kind, attributes, generation, overrideGeneration) => {
      const { logger, store } = storeWithLog()
      const circuitId = `unreadable-${randomUUID()}`
      await put(circuitId, attributes)
      const read = await store.get(circuitId)
      expect(read).toMatchObject({ state: CircuitState.CLOSED, generation, failures: 0, incarnation: '' })
      const opId = randomUUID()
      const counted = await store.addFailure(circuitId, { opId, generation, now: Date.now(), windowMs: 60_000 })
      expect(counted).toMatchObject({ state: CircuitState.CLOSED, generation, failures: 1, incarnation: opId })
      const again = await store.addFailure(circuitId, {
        opId: randomUUID(),
        generation,
        now: Date.now(),
        windowMs: 60_000,
      })
      expect(again).toMatchObject({ failures: 2, incarnation: opId })
      expect(logger.at('warn')).toHaveLength(1)
      expect(logger.at('warn')[0]?.details).toMatchObject({ store: 'dynamodb', circuitId })
      // An override on such an item starts a generation after the one it read as, not after 2^53.
      const other = `unreadable-${randomUUID()}`
      await put(other, attributes)
      const forced = await store.setForced(other, {
        opId: randomUUID(),
        forced: { state: CircuitState.OPEN },
        now: Date.now(),
      })
      expect(forced).toMatchObject({ state: CircuitState.CLOSED, generation: overrideGeneration })
      expect(forced.forced?.state).toBe(CircuitState.OPEN)
    },
    TEST_TIMEOUT_MS,
  )
})

describe('records with a malformed field: read safely, reported once, cleaned up by the next write', () => {
  it(
    'drops an override whose end is not a number, rather than keeping it for ever',
    async () => {
      const { logger, store } = storeWithLog()
      const circuitId = `forced-until-${randomUUID()}`
      await put(
        circuitId,
        closedItem(3, { forcedState: s('OPEN'), forcedSince: n(Date.now()), forcedUntil: s('tomorrow') }),
      )
      const read = await store.get(circuitId)
      expect(read).toMatchObject({ state: CircuitState.CLOSED, generation: 3, failures: 1 })
      expect(read?.forced).toBeUndefined()
      const counted = await store.addFailure(circuitId, {
        opId: randomUUID(),
        generation: 3,
        now: Date.now(),
        windowMs: 60_000,
      })
      expect(counted).toMatchObject({ failures: 2 })
      expect(counted.forced).toBeUndefined()
      const item = await rawItem(circuitId)
      expect(item?.forcedState).toBeUndefined()
      expect(item?.forcedUntil).toBeUndefined()
      expect(logger.at('warn')).toHaveLength(1)
      expect(String(logger.at('warn')[0]?.details?.reason)).toMatch(/forcedUntil/)
    },
    TEST_TIMEOUT_MS,
  )

  const malformedOps: Array<[string, AttributeValue]> = [
    ['a number', n(5)],
    ['a string set', { SS: ['one', 'two'] }],
    ['a map', { M: { a: s('b') } }],
    ['a list holding a number', { L: [s('op-1'), n(7)] }],
    ['a string of ids', s('op-1 op-2')],
  ]

  it.each(malformedOps)(
    'counts a failure on a record whose recentOps is %s, and leaves a list of op ids behind',
    async (_kind, recentOps) => {
      const { logger, store } = storeWithLog()
      const circuitId = `recent-ops-${randomUUID()}`
      await put(circuitId, closedItem(2, { recentOps }))
      expect(await store.get(circuitId)).toMatchObject({ state: CircuitState.CLOSED, generation: 2, failures: 1 })
      const opId = randomUUID()
      const counted = await store.addFailure(circuitId, { opId, generation: 2, now: Date.now(), windowMs: 60_000 })
      expect(counted).toMatchObject({ failures: 2 })
      expect(counted.recentOps).toContain(opId)
      // A retry of it is still recognised.
      const retried = await store.addFailure(circuitId, { opId, generation: 2, now: Date.now(), windowMs: 60_000 })
      expect(retried).toMatchObject({ failures: 2 })
      const item = await rawItem(circuitId)
      expect(item?.recentOps?.L?.every((element) => typeof element.S === 'string')).toBe(true)
      expect(logger.at('warn')).toHaveLength(1)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'ends a probe on a half-open record whose recentOps is malformed',
    async () => {
      const { store } = storeWithLog()
      const circuitId = `probe-ops-${randomUUID()}`
      const token = randomUUID()
      await put(circuitId, {
        state: s('HALF_OPEN'),
        generation: n(5),
        openCount: n(1),
        changedAt: n(Date.now()),
        successes: n(0),
        probe0Token: s(token),
        probe0ExpiresAt: n(Date.now() + 30_000),
        recentOps: { BOOL: true },
      })
      const done = await store.completeProbe(circuitId, {
        opId: randomUUID(),
        generation: 5,
        token,
        success: true,
        now: Date.now(),
      })
      expect(done).toMatchObject({ state: CircuitState.HALF_OPEN, successes: 1, probes: [] })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'removes a changedBy that is not an op id, and still recognises a retried override',
    async () => {
      const { logger, store } = storeWithLog()
      const circuitId = `changed-by-${randomUUID()}`
      await put(circuitId, closedItem(6, { changedBy: n(42) }))
      expect((await store.get(circuitId))?.changedBy).toBeUndefined()
      const request = { opId: randomUUID(), forced: { state: CircuitState.CLOSED } as const, now: Date.now() }
      const forced = await store.setForced(circuitId, request)
      expect(forced).toMatchObject({ generation: 7, changedBy: request.opId })
      expect(await store.setForced(circuitId, request)).toMatchObject({ generation: 7 })
      expect(logger.at('warn')).toHaveLength(1)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'leaves out and removes a transition name that is not one, logging it once',
    async () => {
      const { logger, store } = storeWithLog()
      const circuitId = `change-${randomUUID()}`
      await put(circuitId, closedItem(3, { changedBy: s('op-3'), change2: n(2), change3: s('op-3') }))
      const read = await store.get(circuitId)
      expect(read).toMatchObject({ state: CircuitState.CLOSED, generation: 3, failures: 1 })
      expect(read?.recentChanges).toBeUndefined()
      const counted = await store.addFailure(circuitId, {
        opId: randomUUID(),
        generation: 3,
        now: Date.now(),
        windowMs: 60_000,
      })
      expect(counted).toMatchObject({ failures: 2 })
      const item = await rawItem(circuitId)
      expect(item?.change2).toBeUndefined()
      expect(item?.change3).toBeUndefined()
      expect(logger.at('warn')).toHaveLength(1)
      expect(String(logger.at('warn')[0]?.details?.reason)).toMatch(/change2, change3/)
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'answers a write that applied even when the clean-up after it fails, and opens the circuit once',
    async () => {
      const circuitId = `cleanup-fails-${randomUUID()}`
      await put(circuitId, closedItem(0, { failures: n(0), change6: s('junk') }))
      // Throttles every update that only cleans up, as DynamoDB may once the SDK's retries are spent.
      const client = dynamo.client()
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const names = Object.values(
            (args.input as { ExpressionAttributeNames?: Record<string, string> }).ExpressionAttributeNames ?? {},
          )
          if (context.commandName === 'UpdateItemCommand' && names.length > 0 && names.every(isCleanUpField)) {
            throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
              name: 'ProvisionedThroughputExceededException',
              $metadata: {},
            })
          }
          return next(args)
        },
        { step: 'initialize', name: 'throttleCleanUp' },
      )
      const logger = recordingLogger()
      const breaker = new CircuitBreaker({
        circuitId,
        store: new DynamoDBStore({ tableName: TABLE, client, logger }),
        failureThreshold: 1,
        resetTimeoutMs: 60_000,
        storeTimeoutMs: 10_000,
        logger,
      })
      const changes: StateChange[] = []
      breaker.onStateChange((change) => void changes.push(change))
      const down = Object.assign(new Error('down'), { statusCode: 503 })
      await expect(breaker.execute(() => Promise.reject(down))).rejects.toThrow('down')
      expect((await rawItem(circuitId))?.state).toEqual(s('OPEN'))
      expect(changes.filter((change) => change.origin === 'local')).toMatchObject([{ to: CircuitState.OPEN }])
      // The store answered every write that mattered: nothing says it was unavailable.
      expect(logger.entries.filter((entry) => /unavailable/i.test(entry.message))).toEqual([])
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'takes a probe slot whose lease is half-written',
    async () => {
      const { store } = storeWithLog()
      const circuitId = `half-written-${randomUUID()}`
      await put(circuitId, {
        state: s('HALF_OPEN'),
        generation: n(5),
        openCount: n(1),
        changedAt: n(Date.now()),
        successes: n(0),
        probe0Token: n(3),
        probe0ExpiresAt: s('later'),
      })
      const token = randomUUID()
      const claim = await store.acquireProbe(circuitId, {
        opId: token,
        generation: 5,
        maxProbes: 1,
        token,
        leaseMs: 30_000,
        now: Date.now(),
      })
      expect(claim.lease).toMatchObject({ slot: 0, token })
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'keeps a breaker working on top of each of them',
    async () => {
      const items: Attributes[] = [
        closedItem('9007199254740993'),
        closedItem(0, { forcedState: s('OPEN'), forcedSince: n(1), forcedUntil: { BOOL: true } }),
        closedItem(0, { recentOps: { NS: ['1', '2'] } }),
        closedItem(0, { incarnation: { L: [] } }),
      ]
      for (const attributes of items) {
        const circuitId = `breaker-${randomUUID()}`
        await put(circuitId, attributes)
        const breaker = new CircuitBreaker({
          circuitId,
          store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger: recordingLogger() }),
          failureThreshold: 2,
          cacheTtlMs: 0,
          storeTimeoutMs: 10_000,
          logger: recordingLogger(),
        })
        await expect(breaker.execute(async () => 'fine')).resolves.toBe('fine')
        const failing = async () => {
          throw Object.assign(new Error('down'), { statusCode: 503 })
        }
        await breaker.execute(failing).catch(() => undefined)
        await breaker.execute(failing).catch(() => undefined)
        expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
      }
    },
    TEST_TIMEOUT_MS,
  )
})
