import { closestKnownVariable, editDistance } from '@fleet-breaker/core'
import { closeStoresFromEnvironment, createStoreFromEnvironment, redisUrlFromEnvironment } from '@fleet-breaker/storage'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, describe, expect, it } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'

afterAll(() => closeStoresFromEnvironment())

describe('the Redis URL from the environment', () => {
  it('reads CIRCUIT_BREAKER_REDIS_URL first, then the conventional REDIS_URL (as the demo does)', () => {
    expect(
      redisUrlFromEnvironment({ CIRCUIT_BREAKER_REDIS_URL: 'redis://a:6379', REDIS_URL: 'redis://b:6379' }),
    ).toEqual({
      url: 'redis://a:6379',
      variable: 'CIRCUIT_BREAKER_REDIS_URL',
    })
    expect(redisUrlFromEnvironment({ REDIS_URL: 'redis://b:6379' })).toEqual({
      url: 'redis://b:6379',
      variable: 'REDIS_URL',
    })
    expect(redisUrlFromEnvironment({ CIRCUIT_BREAKER_REDIS_URL: ' ', REDIS_URL: 'redis://b:6379' }).variable).toBe(
      'REDIS_URL',
    )
  })

  it('builds a Redis store on REDIS_URL alone', async () => {
    const store = await createStoreFromEnvironment({
      env: { CIRCUIT_BREAKER_STORE: 'redis', REDIS_URL: testRedisUrl() },
    })
    expect(store).toBeInstanceOf(RedisStore)
    await expect(store.get('env-fallback-circuit')).resolves.toBeUndefined() // reached: no such circuit yet
  })

  it('names the variable the bad URL came from', async () => {
    await expect(
      createStoreFromEnvironment({ env: { CIRCUIT_BREAKER_STORE: 'redis', REDIS_URL: 'localhost:6379' } }),
    ).rejects.toThrow(/REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL; received "localhost:6379"/)
  })
})

describe('a misspelt CIRCUIT_BREAKER_* variable', () => {
  it('is reported once, as a warning naming the variable it most likely meant', async () => {
    const logger = recordingLogger()
    const env = { CIRCUIT_BREAKER_STORE: 'memory', CIRCUIT_BREAKER_TABEL: 'breakers' }
    await createStoreFromEnvironment({ env, logger })
    await createStoreFromEnvironment({ env, logger })
    const warnings = logger.at('warn')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.message).toContain('CIRCUIT_BREAKER_TABEL')
    expect(warnings[0]?.details).toEqual({ variable: 'CIRCUIT_BREAKER_TABEL', didYouMean: 'CIRCUIT_BREAKER_TABLE' })
  })

  it('covers the breaker’s own variables too', () => {
    expect(closestKnownVariable('CIRCUIT_BREAKER_FAILURE_TRESHOLD')).toBe('CIRCUIT_BREAKER_FAILURE_THRESHOLD')
    expect(closestKnownVariable('CIRCUIT_BREAKER_CACHE_TTL')).toBe('CIRCUIT_BREAKER_CACHE_TTL_MS')
  })

  it('leaves known variables and names far from every known one alone', async () => {
    const logger = recordingLogger()
    await createStoreFromEnvironment({
      env: {
        CIRCUIT_BREAKER_STORE: 'memory',
        CIRCUIT_BREAKER_KEY_PREFIX: 'app:',
        CIRCUIT_BREAKER_FAILURE_THRESHOLD: '5',
        CIRCUIT_BREAKER_SOMETHING_ELSE_ENTIRELY: 'x',
        REDIS_URL: 'redis://cache:6379',
      },
      logger,
    })
    expect(logger.at('warn')).toEqual([])
  })

  it('is measured by edit distance', () => {
    expect(editDistance('TABEL', 'TABLE')).toBe(2)
    expect(editDistance('', 'abc')).toBe(3)
    expect(editDistance('same', 'same')).toBe(0)
  })
})
