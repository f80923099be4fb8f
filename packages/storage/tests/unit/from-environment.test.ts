import { randomUUID } from 'node:crypto'
import { InvalidConfigurationError, MemoryStore } from '@fleet-breaker/core'
import {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  type StoreFromEnvironmentOptions,
} from '@fleet-breaker/storage'
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

  it('gives the same store for equal client settings, and another for other settings', async () => {
    const env = { CIRCUIT_BREAKER_TABLE: 'breakers-settings' }
    const patient = () => createStoreFromEnvironment({ env, dynamodb: { clientConfig: { maxAttempts: 3 } } })
    const first = await patient()
    // Settings written inline in a handler are new objects on every call, and still one client.
    expect(await patient()).toBe(first)
    expect(await createStoreFromEnvironment({ env, dynamodb: { clientConfig: { maxAttempts: 4 } } })).not.toBe(first)
    expect(await createStoreFromEnvironment({ env })).not.toBe(first)
    // Only the chosen backend's settings count.
    expect(
      await createStoreFromEnvironment({
        env,
        dynamodb: { clientConfig: { maxAttempts: 3 } },
        redis: { clientConfig: { commandTimeoutMs: 5_000 } },
      }),
    ).toBe(first)
  })

  it('tells credentials providers apart by identity, not by their (empty) JSON', async () => {
    const env = { CIRCUIT_BREAKER_TABLE: 'breakers-credentials' }
    const alice = async () => ({ accessKeyId: 'alice', secretAccessKey: 'a' })
    const bob = async () => ({ accessKeyId: 'bob', secretAccessKey: 'b' })
    const withCredentials = (credentials: typeof alice) =>
      createStoreFromEnvironment({ env, dynamodb: { clientConfig: { credentials } } })
    const forAlice = await withCredentials(alice)
    expect(await withCredentials(alice)).toBe(forAlice)
    expect(await withCredentials(bob)).not.toBe(forAlice)
  })

  it.each([
    [
      { redis: { clientConfig: { commandTimeoutMs: 0 } } },
      /^redis\.clientConfig\.commandTimeoutMs must be a whole number/,
    ],
    [{ redis: { clientConfig: { connectTimeoutMs: 1.5 } } }, /^redis\.clientConfig\.connectTimeoutMs must be a whole/],
    [
      { redis: { clientConfig: { commandTimeout: 5_000 } } },
      /^redis\.clientConfig\.commandTimeout must be nothing: the settings are connectTimeoutMs and commandTimeoutMs/,
    ],
    [{ dynamodb: { client: {} } }, /^dynamodb\.client must be nothing: the factory builds its own client/],
    [{ dynamodb: { clientConfig: 'eu-west-1' } }, /^dynamodb\.clientConfig must be an object or absent/],
    [{ redis: 5_000 }, /^redis must be \{ clientConfig \} or absent/],
  ])(
    'refuses client settings %j with a typed error naming them, never throwing synchronously',
    async (settings, message) => {
      const options = {
        env: { CIRCUIT_BREAKER_STORE: 'memory' },
        ...settings,
      } as unknown as StoreFromEnvironmentOptions
      let attempt: Promise<unknown> | undefined
      expect(() => {
        attempt = createStoreFromEnvironment(options)
      }).not.toThrow()
      await expect(attempt).rejects.toThrow(InvalidConfigurationError)
      await expect(createStoreFromEnvironment(options)).rejects.toThrow(message)
    },
  )

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
