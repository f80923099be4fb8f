import {
  CircuitBreaker,
  DEFAULTS,
  InvalidConfigurationError,
  isInvalidConfigurationError,
  MemoryStore,
  resolveOptions,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'

const store = new MemoryStore()

describe('options', () => {
  it('fills in the documented defaults', () => {
    const options = resolveOptions({ circuitId: 'payment-api', store }, {})
    expect(options).toMatchObject({
      failureThreshold: 3,
      resetTimeoutMs: 10_000,
      maxResetTimeoutMs: 300_000,
      halfOpenSuccessThreshold: 1,
      halfOpenMaxProbes: 1,
      probeLeaseMs: 10_000,
      maxConcurrent: Number.POSITIVE_INFINITY,
      maxQueued: 100,
      maxQueueWaitMs: 1_000,
      callTimeoutMs: undefined,
      cacheTtlMs: 5_000,
      storeTimeoutMs: 500,
      storeOutage: 'fail-open',
    })
    expect(DEFAULTS.failureThreshold).toBe(options.failureThreshold)
  })

  it('takes the circuit id from AWS_LAMBDA_FUNCTION_NAME when none is given', () => {
    expect(resolveOptions({ store }, { AWS_LAMBDA_FUNCTION_NAME: 'checkout' }).circuitId).toBe('checkout')
  })

  it('prefers an explicit option over its environment variable, and the variable over the default', () => {
    const env = { CIRCUIT_BREAKER_FAILURE_THRESHOLD: '7', CIRCUIT_BREAKER_CACHE_TTL_MS: '0' }
    const fromEnv = resolveOptions({ circuitId: 'a', store }, env)
    expect(fromEnv.failureThreshold).toBe(7)
    expect(fromEnv.cacheTtlMs).toBe(0)
    expect(resolveOptions({ circuitId: 'a', store, failureThreshold: 2 }, env).failureThreshold).toBe(2)
  })

  it('derives the probe lease from the call timeout', () => {
    // The call, the three store calls a decision may take before it, and a second.
    expect(resolveOptions({ circuitId: 'a', store, callTimeoutMs: 2_000 }, {}).probeLeaseMs).toBe(4_500)
  })

  it('reads the outage policy and unlimited concurrency from the environment', () => {
    const options = resolveOptions(
      { circuitId: 'a', store },
      { CIRCUIT_BREAKER_STORE_OUTAGE: 'fail-closed', CIRCUIT_BREAKER_MAX_CONCURRENT: 'Infinity' },
    )
    expect(options.storeOutage).toBe('fail-closed')
    expect(options.maxConcurrent).toBe(Number.POSITIVE_INFINITY)
  })

  it.each([
    [{ failureThreshold: 0 }, 'failureThreshold', /failureThreshold must be an integer of 1 or more; received 0/],
    [{ failureThreshold: -1 }, 'failureThreshold', /received -1/],
    [{ failureThreshold: Number.NaN }, 'failureThreshold', /received NaN/],
    [{ failureThreshold: 2.5 }, 'failureThreshold', /received 2.5/],
    [{ resetTimeoutMs: 0 }, 'resetTimeoutMs', /resetTimeoutMs must be/],
    [
      { resetTimeoutMs: 5_000, maxResetTimeoutMs: 1_000 },
      'maxResetTimeoutMs',
      /integer of 5000 or more; received 1000/,
    ],
    [{ halfOpenMaxProbes: 17 }, 'halfOpenMaxProbes', /1 to 16; received 17/],
    [{ callTimeoutMs: 2 ** 31 }, 'callTimeoutMs', /1 to 2147483647; received 2147483648/],
    [{ maxQueued: -1 }, 'maxQueued', /received -1/],
    [{ cacheTtlMs: -1 }, 'cacheTtlMs', /received -1/],
    [{ storeOutage: 'fail-sometimes' }, 'storeOutage', /"fail-open" or "fail-closed"; received "fail-sometimes"/],
    [{ isFailure: 'yes' }, 'isFailure', /isFailure must be a function/],
    [{ circuitId: '' }, 'circuitId', /circuitId must be a non-blank, well-formed string/],
    [{ circuitId: '   ' }, 'circuitId', /received " {3}"/],
    [{ store: {} }, 'store', /store must be a CircuitStore/],
    [{ logger: { warn: () => {} } }, 'logger', /logger must be an object with debug, info, warn and error/],
  ])('rejects %j at construction, naming %s and the value', (override, option, message) => {
    const build = () => new CircuitBreaker({ circuitId: 'a', store, ...(override as object) })
    expect(build).toThrow(InvalidConfigurationError)
    expect(build).toThrow(message)
    try {
      build()
    } catch (error) {
      expect(isInvalidConfigurationError(error) && error.option).toBe(option)
    }
  })

  it('rejects an unparsable environment value, naming the variable', () => {
    expect(() => resolveOptions({ circuitId: 'a', store }, { CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '10s' })).toThrow(
      /CIRCUIT_BREAKER_RESET_TIMEOUT_MS must be an integer of 1 or more; received "10s"/,
    )
    expect(() => resolveOptions({ circuitId: 'a', store }, { CIRCUIT_BREAKER_STORE_OUTAGE: 'open' })).toThrow(
      /CIRCUIT_BREAKER_STORE_OUTAGE must be/,
    )
  })

  it('requires a circuit id when there is no function name to default to', () => {
    expect(() => resolveOptions({ store }, {})).toThrow(/circuitId \(from AWS_LAMBDA_FUNCTION_NAME\) must be/)
  })
})
