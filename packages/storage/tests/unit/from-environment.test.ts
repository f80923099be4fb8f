import { randomUUID } from 'node:crypto'
import { InvalidConfigurationError, MemoryStore } from '@fleet-breaker/core'
import { closeStoresFromEnvironment, createStoreFromEnvironment } from '@fleet-breaker/storage'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, describe, expect, it } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { freePort } from '../../../../test-support/redis-setup.js'

afterAll(() => closeStoresFromEnvironment())

describe('createStoreFromEnvironment', () => {
  it('builds a DynamoDB store on CIRCUIT_BREAKER_TABLE by default', async () => {
    const store = await createStoreFromEnvironment({ env: { CIRCUIT_BREAKER_TABLE: 'breakers-a' } })
    expect(store).toBeInstanceOf(DynamoDBStore)
    expect((store as DynamoDBStore).tableName).toBe('breakers-a')
  })

  it('gives the same store for the same configuration, so clients are made once', async () => {
    const env = { CIRCUIT_BREAKER_STORE: 'dynamodb', CIRCUIT_BREAKER_TABLE: 'breakers-b' }
    expect(await createStoreFromEnvironment({ env })).toBe(await createStoreFromEnvironment({ env: { ...env } }))
  })

  it('builds an in-memory store, warning when it runs on Lambda', async () => {
    const logger = recordingLogger()
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'memory', AWS_LAMBDA_FUNCTION_NAME: 'checkout' },
      logger,
    })
    expect(store).toBeInstanceOf(MemoryStore)
    expect(logger.at('warn')).toHaveLength(1)
  })

  it('builds a Redis store on CIRCUIT_BREAKER_REDIS_URL', async () => {
    const url = testRedisUrl()
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: url, CIRCUIT_BREAKER_KEY_PREFIX: 'from-env:' },
    })
    expect(store).toBeInstanceOf(RedisStore)
    await store.addFailure('env-circuit', { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 1_000 })
    await store.clearMany(['env-circuit'])
  })

  it('builds a Redis store even when the server is down, reporting the client’s errors once', async () => {
    const logger = recordingLogger()
    const url = `redis://127.0.0.1:${await freePort()}`
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: url },
      logger,
    })
    expect(store).toBeInstanceOf(RedisStore)
    await expect(store.get('env-circuit')).rejects.toThrow()
    const warnings = logger.at('warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.message).toMatch(/the Redis client cannot reach its server/)
    expect(warnings[0]?.details?.error).toMatchObject({ code: 'ECONNREFUSED' })
    await expect(closeStoresFromEnvironment()).resolves.toBeUndefined()
  })

  it.each([
    [
      { CIRCUIT_BREAKER_STORE: 'postgres' },
      /CIRCUIT_BREAKER_STORE must be "dynamodb", "redis" or "memory"; received "postgres"/,
    ],
    [{ CIRCUIT_BREAKER_STORE: 'dynamodb' }, /CIRCUIT_BREAKER_TABLE must be the name of the DynamoDB table/],
    [
      { CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: 'localhost:6379' },
      /CIRCUIT_BREAKER_REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/,
    ],
  ])('rejects %j with a typed error naming the variable, never throwing synchronously', async (env, message) => {
    let attempt: Promise<unknown> | undefined
    expect(() => {
      attempt = createStoreFromEnvironment({ env })
    }).not.toThrow()
    await expect(attempt).rejects.toThrow(InvalidConfigurationError)
    await expect(createStoreFromEnvironment({ env })).rejects.toThrow(message)
  })
})
