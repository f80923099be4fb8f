import { randomUUID } from 'node:crypto'
import { DeleteItemCommand, type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { CircuitBreaker, CircuitState, InvalidConfigurationError } from '@fleet-breaker/core'
import { type ConformanceHarness, ManualClock, storeConformanceCases } from '@fleet-breaker/core/testing'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { recordingLogger } from '../../../../test-support/logger.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

let dynamo: LocalDynamoDB
const TABLE = 'circuit-breakers'

interface SingleTableOptions {
  readonly partitionKey?: string
  readonly sortKey?: { readonly name: string; readonly value: string }
  readonly keyPrefix?: string
}
const SINGLE_TABLE = 'service-table'

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  await dynamo.createTable(SINGLE_TABLE, { partitionKey: 'PK', sortKey: 'SK' })
})

afterAll(async () => {
  await dynamo.stop()
})

describe('DynamoDBStore conformance (dynalite, one client per environment)', () => {
  const layouts = [
    { layout: 'one item per circuit', tableName: TABLE, extra: {} as SingleTableOptions },
    {
      layout: 'single-table mode',
      tableName: SINGLE_TABLE,
      extra: { partitionKey: 'PK', sortKey: { name: 'SK', value: 'CIRCUIT' }, keyPrefix: 'CIRCUIT#' },
    },
  ]
  const cases = layouts.flatMap((layout) =>
    storeConformanceCases.map((conformanceCase) => ({ ...layout, conformanceCase })),
  )
  const admin = () => dynamo.client()
  for (const { layout, tableName, extra, conformanceCase } of cases) {
    it(
      `${layout}: ${conformanceCase.name}`,
      async () => {
        const clock = new ManualClock()
        const keyOf = (circuitId: string) => {
          const key: Record<string, { S: string }> = {
            [extra.partitionKey ?? 'id']: { S: `${extra.keyPrefix ?? ''}${circuitId}` },
          }
          if (extra.sortKey !== undefined) key[extra.sortKey.name] = { S: extra.sortKey.value }
          return key
        }
        const harness: ConformanceHarness = {
          // Batches of a hundred circuits on an in-process server under a loaded test run can
          // take seconds per request; the store's own limit for calls without a signal is not
          // what these cases test.
          createStore: () =>
            new DynamoDBStore({ tableName, client: dynamo.client(), callTimeoutMs: 120_000, ...extra }),
          now: clock.now,
          advance: async (ms) => clock.advance(ms),
          loseRecord: async (circuitId) => {
            await admin().send(new DeleteItemCommand({ TableName: tableName, Key: keyOf(circuitId) }))
          },
        }
        await conformanceCase.run(harness)
      },
      conformanceCase.timeoutMs,
    )
  }
})

describe('DynamoDBStore', () => {
  it('keeps one item per circuit, keyed by id, with a TTL that follows each write', async () => {
    const client = dynamo.client()
    const store = new DynamoDBStore({ tableName: TABLE, client, ttlSeconds: 3_600 })
    const circuitId = `ttl-${randomUUID()}`
    const now = Date.UTC(2026, 5, 1)
    await store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now, windowMs: 60_000 })
    const { Item } = await client.send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))
    expect(Item).toMatchObject({
      id: { S: circuitId },
      state: { S: 'CLOSED' },
      failures: { N: '1' },
      generation: { N: '0' },
      expiresAt: { N: String(now / 1000 + 3_600) },
    })
  })

  it('never lets a forced-open circuit expire, and lets a timed override expire a TTL after it ends', async () => {
    const client = dynamo.client()
    const store = new DynamoDBStore({ tableName: TABLE, client, ttlSeconds: 60 })
    const now = Date.UTC(2026, 5, 1)
    const forever = `forced-${randomUUID()}`
    await store.setForced(forever, { opId: randomUUID(), forced: { state: CircuitState.OPEN }, now })
    const read = async (circuitId: string) =>
      (await client.send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: circuitId } } }))).Item
    expect((await read(forever))?.expiresAt).toBeUndefined()
    const timed = `forced-${randomUUID()}`
    await store.setForced(timed, {
      opId: randomUUID(),
      forced: { state: CircuitState.OPEN, durationMs: 3_600_000 },
      now,
    })
    expect((await read(timed))?.expiresAt).toEqual({ N: String(now / 1000 + 3_600 + 60) })
  })

  it('works through a DynamoDBDocumentClient as well', async () => {
    const store = new DynamoDBStore({ tableName: TABLE, client: DynamoDBDocumentClient.from(dynamo.client()) })
    const circuitId = `document-${randomUUID()}`
    await store.addFailure(circuitId, { opId: randomUUID(), generation: 0, now: 1, windowMs: 60_000 })
    const record = await store.get(circuitId)
    expect(record).toMatchObject({ state: CircuitState.CLOSED, failures: 1 })
  })

  it('drives a breaker end to end across environments', async () => {
    const clock = new ManualClock()
    const circuitId = `end-to-end-${randomUUID()}`
    const fleet = Array.from(
      { length: 5 },
      () =>
        new CircuitBreaker({
          circuitId,
          store: new DynamoDBStore({ tableName: TABLE, client: dynamo.client() }),
          now: clock.now,
          failureThreshold: 3,
          storeTimeoutMs: 10_000,
        }),
    )
    const failing = async () => {
      throw Object.assign(new Error('unavailable'), { statusCode: 503 })
    }
    await Promise.all(fleet.map((breaker) => breaker.execute(failing).catch(() => undefined)))
    expect((await fleet[0]?.getState())?.state).toBe(CircuitState.OPEN)
    clock.advance(10_000)
    await expect(fleet[1]?.execute(async () => 'recovered')).resolves.toBe('recovered')
    expect((await fleet[2]?.getState())?.state).toBe(CircuitState.CLOSED)
  }, 30_000)

  describe('items it did not write', () => {
    const foreignItems: Array<[string, Record<string, { S: string } | { N: string } | { BOOL: boolean }>]> = [
      [
        'an unknown state',
        {
          state: { S: 'BROKEN' },
          generation: { N: '4' },
          openCount: { N: '0' },
          changedAt: { N: '0' },
          failures: { N: '1' },
        },
      ],
      ['missing attributes', { state: { S: 'OPEN' }, generation: { N: '2' } }],
      [
        'a generation of the wrong type',
        {
          state: { S: 'CLOSED' },
          generation: { S: 'seven' },
          openCount: { N: '0' },
          changedAt: { N: '0' },
          failures: { N: '0' },
        },
      ],
      ['a state of the wrong type', { state: { BOOL: true }, generation: { N: '1' } }],
      ['nothing but its key', {}],
    ]

    it.each(foreignItems)(
      'reads an item with %s as CLOSED, logs it once, and replaces it on the next write',
      async (_kind, attributes) => {
        const client = dynamo.client()
        const logger = recordingLogger()
        const store = new DynamoDBStore({ tableName: TABLE, client, logger })
        const circuitId = `foreign-${randomUUID()}`
        await client.send(new PutItemCommand({ TableName: TABLE, Item: { id: { S: circuitId }, ...attributes } }))
        const first = await store.get(circuitId)
        await store.get(circuitId)
        expect(first).toMatchObject({ state: CircuitState.CLOSED, failures: 0 })
        expect(logger.at('warn')).toHaveLength(1)
        expect(logger.at('warn')[0]?.details).toMatchObject({ store: 'dynamodb', circuitId })
        const generation = first?.generation ?? -1
        const counted = await store.addFailure(circuitId, {
          opId: randomUUID(),
          generation,
          now: 1_000,
          windowMs: 60_000,
        })
        expect(counted).toMatchObject({ state: CircuitState.CLOSED, failures: 1, generation })
        const again = await store.addFailure(circuitId, {
          opId: randomUUID(),
          generation,
          now: 1_001,
          windowMs: 60_000,
        })
        expect(again).toMatchObject({ failures: 2 })
      },
    )

    it('lets manual control repair an unreadable item', async () => {
      const client = dynamo.client()
      const store = new DynamoDBStore({ tableName: TABLE, client, logger: recordingLogger() })
      const circuitId = `foreign-${randomUUID()}`
      await client.send(
        new PutItemCommand({ TableName: TABLE, Item: { id: { S: circuitId }, generation: { S: 'x' } } }),
      )
      const forced = await store.setForced(circuitId, {
        opId: randomUUID(),
        forced: { state: CircuitState.OPEN, reason: 'drill' },
        now: 5,
      })
      expect(forced).toMatchObject({
        state: CircuitState.CLOSED,
        generation: 1,
        forced: { state: CircuitState.OPEN, reason: 'drill' },
      })
      const reset = await store.reset(circuitId, { opId: randomUUID(), now: 6 })
      expect(reset).toMatchObject({ state: CircuitState.CLOSED, generation: 2 })
      expect(reset.forced).toBeUndefined()
    })

    it('keeps a breaker working on top of a corrupt item', async () => {
      const client = dynamo.client()
      const circuitId = `foreign-${randomUUID()}`
      await client.send(new PutItemCommand({ TableName: TABLE, Item: { id: { S: circuitId }, state: { S: '???' } } }))
      const breaker = new CircuitBreaker({
        circuitId,
        store: new DynamoDBStore({ tableName: TABLE, client, logger: recordingLogger() }),
        failureThreshold: 2,
        storeTimeoutMs: 10_000,
        logger: recordingLogger(),
      })
      await expect(breaker.execute(async () => 'fine')).resolves.toBe('fine')
      const failing = async () => {
        throw Object.assign(new Error('down'), { code: 'ECONNRESET' })
      }
      await breaker.execute(failing).catch(() => undefined)
      await breaker.execute(failing).catch(() => undefined)
      expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    }, 30_000)
  })

  describe('configuration', () => {
    it.each([
      [{ tableName: '' }, /tableName must be a non-blank string/],
      [{ tableName: TABLE, ttlSeconds: 0 }, /ttlSeconds must be an integer of 1 or more; received 0/],
      [{ tableName: TABLE, partitionKey: ' ' }, /partitionKey must be a non-blank string/],
      [{ tableName: TABLE, sortKey: { name: 'SK', value: '' } }, /sortKey.value must be/],
      [{ tableName: TABLE, client: {} }, /client must be a DynamoDBClient or DynamoDBDocumentClient/],
    ])('rejects %j with a typed error naming the option', (options, message) => {
      const build = () => new DynamoDBStore(options as never)
      expect(build).toThrow(InvalidConfigurationError)
      expect(build).toThrow(message)
    })

    it('refuses a client and a clientConfig together', () => {
      const client: DynamoDBClient = dynamo.client()
      expect(() => new DynamoDBStore({ tableName: TABLE, client, clientConfig: {} } as never)).toThrow(
        /either a client or a clientConfig/,
      )
    })

    it('takes the table from CIRCUIT_BREAKER_TABLE', () => {
      const previous = process.env.CIRCUIT_BREAKER_TABLE
      process.env.CIRCUIT_BREAKER_TABLE = 'from-env'
      try {
        expect(new DynamoDBStore({ client: dynamo.client() }).tableName).toBe('from-env')
      } finally {
        if (previous === undefined) delete process.env.CIRCUIT_BREAKER_TABLE
        else process.env.CIRCUIT_BREAKER_TABLE = previous
      }
    })
  })
})
