import { randomUUID } from 'node:crypto'
import { closeStoresFromEnvironment, createStoreFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type FaultProxy, startFaultProxy } from '../../../../test-support/fault-proxy.js'
import { silentLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'

// Every answer is late by design; a loaded two-core machine adds its own.
jest.setTimeout(60_000)

/*
 * `createStoreFromEnvironment` with client settings, against stores whose every answer arrives
 * 1.5 s late: three times what the hot-path clients wait, well inside a patient client's 5 s.
 */
const DELAY_MS = 1_500
const TABLE = 'from-environment-clients'
// The shared Redis server is never flushed: this file's circuits live under a prefix of their own.
const prefix = `from-env-clients-${randomUUID()}:`

let dynamo: LocalDynamoDB
let dynamoProxy: FaultProxy
let redisProxy: FaultProxy

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  const redis = new URL(testRedisUrl())
  ;[dynamoProxy, redisProxy] = await Promise.all([
    startFaultProxy({ target: { host: '127.0.0.1', port: Number(new URL(dynamo.endpoint).port) }, protocol: 'http' }),
    startFaultProxy({ target: { host: redis.hostname, port: Number(redis.port) }, protocol: 'resp' }),
  ])
  dynamoProxy.delayReplies(DELAY_MS)
  redisProxy.delayReplies(DELAY_MS)
})

// Each test closes the clients it had built, before the next one starts.
afterEach(() => closeStoresFromEnvironment())

afterAll(async () => {
  await Promise.all([dynamoProxy?.stop(), redisProxy?.stop()])
  await dynamo?.stop()
})

describe('createStoreFromEnvironment with client settings, over a slow network', () => {
  const dynamoTarget = () => ({
    endpoint: dynamoProxy.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  })

  it('DynamoDB: settings that say only where to connect keep the hot-path timeouts', async () => {
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_TABLE: TABLE },
      logger: silentLogger,
      dynamodb: { clientConfig: dynamoTarget() },
    })
    await expect(store.get('slow-api')).rejects.toMatchObject({ name: 'TimeoutError' })
  })

  it('DynamoDB: a longer request timeout in clientConfig waits for the late answer', async () => {
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_TABLE: TABLE },
      logger: silentLogger,
      dynamodb: { clientConfig: { ...dynamoTarget(), requestHandler: { requestTimeout: 5_000 } } },
    })
    await expect(store.get('slow-api')).resolves.toBeUndefined()
  })

  const redisEnv = () => ({
    CIRCUIT_BREAKER_STORE: 'redis',
    CIRCUIT_BREAKER_REDIS_URL: redisProxy.url,
    CIRCUIT_BREAKER_KEY_PREFIX: prefix,
  })

  it('Redis: without settings the hot-path client fails the call', async () => {
    const store = await createStoreFromEnvironment({ env: redisEnv(), logger: silentLogger })
    await expect(store.get('slow-api')).rejects.toThrow()
  })

  it('Redis: longer connect and command timeouts wait for the late answers', async () => {
    const store = await createStoreFromEnvironment({
      env: redisEnv(),
      logger: silentLogger,
      redis: { clientConfig: { connectTimeoutMs: 5_000, commandTimeoutMs: 5_000 } },
    })
    await expect(store.get('slow-api')).resolves.toBeUndefined()
  })
})
