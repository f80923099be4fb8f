import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { CircuitBreaker, CircuitState, isStoreUnavailableError, type Logger } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { mockClient } from 'aws-sdk-client-mock'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { recordingLogger } from '../../../../test-support/logger.js'
import { freePort } from '../../../../test-support/redis-setup.js'

// Every test here talks to an in-process server; on a loaded machine a few requests can take seconds.
jest.setTimeout(30_000)

const TABLE = 'circuit-breakers'
let dynamo: LocalDynamoDB
let proxy: FaultProxy

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  const { port } = new URL(dynamo.endpoint)
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: Number(port) }, protocol: 'http' })
})

afterAll(async () => {
  await proxy.stop()
  await dynamo.stop()
})

afterEach(() => {
  proxy.passThrough()
  // Connections black-holed stay so; drop them so the next test's clients connect afresh.
  proxy.dropConnections()
})

const serviceDown = async (): Promise<never> => {
  throw Object.assign(new Error('downstream unavailable'), { statusCode: 503 })
}

function breakerThrough(
  endpoint: string,
  options: { storeOutage?: 'fail-open' | 'fail-closed'; logger?: Logger; storeTimeoutMs?: number } = {},
) {
  const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client({ endpoint, maxAttempts: 1 }) })
  return new CircuitBreaker({
    circuitId: `fault-${randomUUID()}`,
    store,
    storeTimeoutMs: options.storeTimeoutMs ?? 200,
    storeRetryIntervalMs: 100,
    cacheTtlMs: 0,
    failureThreshold: 2,
    logger: options.logger ?? recordingLogger(),
    ...(options.storeOutage === undefined ? {} : { storeOutage: options.storeOutage }),
  })
}

describe('a DynamoDB endpoint that cannot be reached', () => {
  it('refusing connections: the caller gets its own results, and nothing is counted', async () => {
    const closedPort = await freePort()
    const logger = recordingLogger()
    const breaker = breakerThrough(`http://127.0.0.1:${closedPort}`, { logger })
    await expect(breaker.execute(async () => 'own result')).resolves.toBe('own result')
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('accepting connections and never answering: the breaker stops waiting at its deadline and aborts the request', async () => {
    proxy.blackHole()
    const abandonedBefore = proxy.stats.abandonedByClient
    const breaker = breakerThrough(proxy.url)
    // The proxy never answers, so a result can only come from the breaker giving up on the store.
    await expect(breaker.execute(async () => 'own result')).resolves.toBe('own result')
    await sleep(50)
    expect(proxy.stats.abandonedByClient).toBeGreaterThan(abandonedBefore)
  })

  it('fails closed when configured to', async () => {
    proxy.blackHole()
    const breaker = breakerThrough(proxy.url, { storeOutage: 'fail-closed' })
    const error = await breaker.execute(async () => 'never called').catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
  })

  it('recovers when the store comes back: counts again and opens the circuit fleet-wide', async () => {
    const logger = recordingLogger()
    // A deadline no answer of a loaded in-process server misses: only the black hole makes the store unavailable.
    const breaker = breakerThrough(proxy.url, { logger, storeTimeoutMs: 3_000 })
    await breaker.getState()
    const hole = proxy.blackHole()
    // One failure during the outage (below the threshold of 2, so this environment stays closed).
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect((await breaker.getState()).source).toBe('cache')
    hole.cancel()
    proxy.dropConnections()
    await sleep(120) // the breaker's store retry interval
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    const snapshot = await breaker.getState()
    expect(snapshot).toMatchObject({ state: CircuitState.OPEN, source: 'store' })
    const elsewhere = new DynamoDBStore({ tableName: TABLE, client: dynamo.client() })
    expect((await elsewhere.get(breaker.circuitId))?.state).toBe(CircuitState.OPEN)
    expect(logger.at('warn')).toHaveLength(1)
    expect(logger.at('info').some((entry) => /available again/.test(entry.message))).toBe(true)
  })
})

describe('DynamoDB faults a local server cannot produce', () => {
  function mockedStore(logger: Logger = recordingLogger()) {
    const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } })
    const mock = mockClient(client)
    return { mock, store: new DynamoDBStore({ tableName: TABLE, client, logger }) }
  }
  const throttled = () =>
    new DynamoDBServiceException({
      name: 'ProvisionedThroughputExceededException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate of requests exceeds the allowed throughput',
    })
  const internal = () =>
    new DynamoDBServiceException({
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
      message: 'Internal server error',
    })

  it.each([
    ['throttling', throttled],
    ['an internal server error', internal],
  ])('treats %s as a store outage: the call goes through, one warning is logged', async (_kind, fault) => {
    const logger = recordingLogger()
    const { mock, store } = mockedStore()
    mock.on(GetItemCommand).rejects(fault())
    mock.on(UpdateItemCommand).rejects(fault())
    const breaker = new CircuitBreaker({ circuitId: 'mocked', store, logger, cacheTtlMs: 0, storeRetryIntervalMs: 0 })
    for (let i = 0; i < 3; i++) await expect(breaker.execute(async () => i)).resolves.toBe(i)
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('uses the item returned with a failed condition instead of reading it again', async () => {
    const { mock, store } = mockedStore()
    mock.on(UpdateItemCommand).rejects(
      new ConditionalCheckFailedException({
        $metadata: { httpStatusCode: 400 },
        message: 'The conditional request failed',
        Item: {
          id: { S: 'mocked' },
          state: { S: 'OPEN' },
          generation: { N: '3' },
          openCount: { N: '1' },
          changedAt: { N: '100' },
          retryAt: { N: '10100' },
        },
      }),
    )
    const record = await store.addFailure('mocked', { opId: randomUUID(), generation: 2, now: 200, windowMs: 60_000 })
    expect(record).toMatchObject({ state: CircuitState.OPEN, generation: 3, retryAt: 10_100 })
    // One read to learn the service's time (a mocked client's answers carry none, so it is the only
    // one ever), and none after the failed condition.
    expect(mock.commandCalls(GetItemCommand)).toHaveLength(1)
    expect(mock.commandCalls(UpdateItemCommand)).toHaveLength(1)
    await store.addFailure('mocked', { opId: randomUUID(), generation: 2, now: 300, windowMs: 60_000 })
    expect(mock.commandCalls(GetItemCommand)).toHaveLength(1)
  })

  it('retries keys a batch read left unprocessed', async () => {
    const { mock, store } = mockedStore()
    const item = (id: string) => ({
      id: { S: id },
      state: { S: 'CLOSED' },
      generation: { N: '0' },
      openCount: { N: '0' },
      changedAt: { N: '0' },
      failures: { N: '2' },
    })
    mock
      .on(BatchGetItemCommand)
      .resolvesOnce({
        Responses: { [TABLE]: [item('a')] },
        UnprocessedKeys: { [TABLE]: { Keys: [{ id: { S: 'b' } }] } },
      })
      .resolvesOnce({ Responses: { [TABLE]: [item('b')] } })
    const records = await store.getMany(['a', 'b'])
    expect([...records.keys()].sort()).toEqual(['a', 'b'])
    expect(mock.commandCalls(BatchGetItemCommand)).toHaveLength(2)
    expect(mock.commandCalls(BatchGetItemCommand)[1]?.args[0].input.RequestItems?.[TABLE]?.Keys).toEqual([
      { id: { S: 'b' } },
    ])
  })

  it('retries items a batch delete left unprocessed', async () => {
    const { mock, store } = mockedStore()
    mock
      .on(BatchWriteItemCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [{ DeleteRequest: { Key: { id: { S: 'b' } } } }] } })
      .resolvesOnce({})
    await store.clearMany(['a', 'b'])
    expect(mock.commandCalls(BatchWriteItemCommand)).toHaveLength(2)
  })

  it('gives up on a batch the service keeps throttling, with an error', async () => {
    const { mock, store } = mockedStore()
    mock
      .on(BatchWriteItemCommand)
      .resolves({ UnprocessedItems: { [TABLE]: [{ DeleteRequest: { Key: { id: { S: 'a' } } } }] } })
    await expect(store.clearMany(['a'])).rejects.toThrow(/unprocessed/)
  })
})

describe('a direct store call (no breaker, no signal) against an endpoint that never answers', () => {
  const entries = [{ circuitId: 'tool-a', forced: { state: CircuitState.OPEN } }, { circuitId: 'tool-b' }] as const

  it('ends at callTimeoutMs with a client you built without timeouts', async () => {
    proxy.blackHole()
    const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 3 })
    const store = new DynamoDBStore({ tableName: TABLE, client, callTimeoutMs: 300 })
    const error = await store
      .setMany(entries, { opId: randomUUID(), now: Date.now() })
      .catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name: 'TimeoutError', message: expect.stringMatching(/within 300 ms/) })
    await expect(store.clearMany(['tool-a'])).rejects.toMatchObject({ name: 'TimeoutError' })
    await expect(store.get('tool-a')).rejects.toMatchObject({ name: 'TimeoutError' })
  }, 30_000)

  it('ends at the SDK’s request timeout with the client the store builds', async () => {
    proxy.blackHole()
    const store = new DynamoDBStore({
      tableName: TABLE,
      clientConfig: {
        endpoint: proxy.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
      // Far beyond the client's own limits: what ends the call here is the SDK throwing.
      callTimeoutMs: 120_000,
    })
    try {
      const startedAt = Date.now()
      const error = await store.clearMany(['tool-a']).catch((caught: unknown) => caught)
      expect(error).toMatchObject({ name: 'TimeoutError' })
      expect(String((error as Error).message)).toMatch(/requestTimeout/)
      expect(Date.now() - startedAt).toBeLessThan(60_000)
    } finally {
      store.close()
    }
  }, 90_000)
})
