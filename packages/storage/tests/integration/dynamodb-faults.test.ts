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
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals'
import { mockClient } from 'aws-sdk-client-mock'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { recordingLogger } from '../../../../test-support/logger.js'
import { freePort } from '../../../../test-support/redis-setup.js'
import { startTcpProxy, type TcpProxy } from '../../../../test-support/tcp-proxy.js'

const TABLE = 'circuit-breakers'
let dynamo: LocalDynamoDB
let proxy: TcpProxy

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  const { port } = new URL(dynamo.endpoint)
  proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(port) })
})

afterAll(async () => {
  await proxy.stop()
  await dynamo.stop()
})

afterEach(() => {
  proxy.mode = 'forward'
})

const serviceDown = async (): Promise<never> => {
  throw Object.assign(new Error('downstream unavailable'), { statusCode: 503 })
}

function breakerThrough(
  endpoint: string,
  options: { storeOutage?: 'fail-open' | 'fail-closed'; logger?: Logger } = {},
) {
  const store = new DynamoDBStore({ tableName: TABLE, client: dynamo.client({ endpoint, maxAttempts: 1 }) })
  return new CircuitBreaker({
    circuitId: `fault-${randomUUID()}`,
    store,
    storeTimeoutMs: 200,
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
    proxy.mode = 'black-hole'
    const breaker = breakerThrough(`http://127.0.0.1:${proxy.port}`)
    // The proxy never answers, so a result can only come from the breaker giving up on the store.
    await expect(breaker.execute(async () => 'own result')).resolves.toBe('own result')
    await sleep(20)
    expect(proxy.abandonedByClient).toBeGreaterThan(0)
  })

  it('fails closed when configured to', async () => {
    proxy.mode = 'black-hole'
    const breaker = breakerThrough(`http://127.0.0.1:${proxy.port}`, { storeOutage: 'fail-closed' })
    const error = await breaker.execute(async () => 'never called').catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
  })

  it('recovers when the store comes back: counts again and opens the circuit fleet-wide', async () => {
    const logger = recordingLogger()
    const breaker = breakerThrough(`http://127.0.0.1:${proxy.port}`, { logger })
    proxy.mode = 'black-hole'
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    expect((await breaker.getState()).source).toBe('cache')
    proxy.mode = 'forward'
    await sleep(120) // the breaker's store retry interval
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    await expect(breaker.execute(serviceDown)).rejects.toThrow('downstream unavailable')
    const snapshot = await breaker.getState()
    expect(snapshot).toMatchObject({ state: CircuitState.OPEN, source: 'store' })
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
    const record = await store.addFailure('mocked', { generation: 2, now: 200, windowMs: 60_000 })
    expect(record).toMatchObject({ state: CircuitState.OPEN, generation: 3, retryAt: 10_100 })
    expect(mock.commandCalls(GetItemCommand)).toHaveLength(0)
    expect(mock.commandCalls(UpdateItemCommand)).toHaveLength(1)
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
