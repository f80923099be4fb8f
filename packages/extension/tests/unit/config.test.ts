import { isInvalidConfigurationError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { isValidCircuitId } from '../../src/circuits.js'
import { EXTENSION_DEFAULTS, readExtensionConfig } from '../../src/config.js'

describe('the extension configuration', () => {
  it('has defaults: port 4243, manual control off, no token', () => {
    expect(readExtensionConfig({})).toEqual({
      port: 4243,
      maxCircuits: EXTENSION_DEFAULTS.maxCircuits,
      maxPermits: EXTENSION_DEFAULTS.maxPermits,
      adminEnabled: false,
      token: undefined,
      permitTtlMs: EXTENSION_DEFAULTS.permitTtlMs,
      logLevel: 'info',
      maxConcurrency: 1,
    })
  })

  it('reads how many invocations Lambda runs at once from AWS_LAMBDA_MAX_CONCURRENCY, else 1', () => {
    expect(readExtensionConfig({ AWS_LAMBDA_MAX_CONCURRENCY: '16' }).maxConcurrency).toBe(16)
    expect(readExtensionConfig({ AWS_LAMBDA_MAX_CONCURRENCY: 'lots' }).maxConcurrency).toBe(1)
  })

  it.each([
    ['CIRCUIT_BREAKER_EXTENSION_PORT', '70000'],
    ['CIRCUIT_BREAKER_EXTENSION_PORT', 'http'],
    ['CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS', '0'],
    ['CIRCUIT_BREAKER_EXTENSION_ADMIN', 'yes please'],
    ['CIRCUIT_BREAKER_EXTENSION_TOKEN', 'short'],
    ['CIRCUIT_BREAKER_EXTENSION_LOG_LEVEL', 'verbose'],
  ])('refuses %s=%s with an error naming the variable', (variable, value) => {
    let caught: unknown
    try {
      readExtensionConfig({ [variable]: value })
    } catch (error) {
      caught = error
    }
    expect(isInvalidConfigurationError(caught)).toBe(true)
    expect((caught as Error).message).toMatch(new RegExp(`^${variable} must be`))
    // A token is never echoed into logs.
    if (variable.endsWith('TOKEN')) expect((caught as Error).message).not.toContain(value)
  })

  it('accepts circuit ids of letters, digits and . _ - : @ + = ~ up to 256 characters', () => {
    expect(isValidCircuitId('payment-api')).toBe(true)
    expect(isValidCircuitId('arn:aws:lambda:eu-west-1:1:function:x@v2')).toBe(true)
    expect(isValidCircuitId('a'.repeat(256))).toBe(true)
    expect(isValidCircuitId('a'.repeat(257))).toBe(false)
    expect(isValidCircuitId('-leading-dash')).toBe(false)
    expect(isValidCircuitId('has space')).toBe(false)
    expect(isValidCircuitId('')).toBe(false)
    expect(isValidCircuitId('ünïcode')).toBe(false)
  })
})
