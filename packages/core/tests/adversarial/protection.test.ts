import { isCircuitOpenError, RejectionReason } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, gate, only, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

/**
 * Guarantee: while the store fails, an environment is never less protected than a breaker of its
 * own (at most failureThreshold calls to a failing downstream per resetTimeoutMs).
 */
describe('never less protected than a per-environment breaker', () => {
  it('stops calling a dead downstream when only the opening write fails (error)', async () => {
    const { members } = environments(1, { failureThreshold: 3, resetTimeoutMs: 60_000 })
    const { store, breaker } = only(members)
    // The store takes counts, but every transition write fails (throttled conditional writes, a
    // failing script, a connection that drops the larger writes...).
    store.fault = 'error'
    store.faultOperations = new Set(['transition'])
    let downstreamCalls = 0
    for (let call = 0; call < 50; call++) {
      await rejectionOf(
        breaker.execute(async () => {
          downstreamCalls++
          throw new ServiceUnavailable()
        }),
      )
    }
    expect(downstreamCalls).toBeLessThanOrEqual(3)
  })

  it('stops calling a dead downstream when only the opening write times out (hang)', async () => {
    const { members } = environments(1, { failureThreshold: 3, resetTimeoutMs: 60_000, storeTimeoutMs: 5 })
    const { store, breaker } = only(members)
    store.fault = 'hang'
    store.faultOperations = new Set(['transition'])
    let downstreamCalls = 0
    for (let call = 0; call < 10; call++) {
      await rejectionOf(
        breaker.execute(async () => {
          downstreamCalls++
          throw new ServiceUnavailable()
        }),
      )
    }
    expect(downstreamCalls).toBeLessThanOrEqual(3)
  })

  it('lets one call through (not every concurrent one) when the local opening ends', async () => {
    const { members, clock } = environments(1, { failureThreshold: 3, resetTimeoutMs: 1_000 })
    const { store, breaker } = only(members)
    store.fault = 'error' // the store is down for the whole test
    let downstreamCalls = 0
    const dead = async (): Promise<never> => {
      downstreamCalls++
      throw new ServiceUnavailable()
    }
    for (let call = 0; call < 10; call++) await rejectionOf(breaker.execute(dead))
    expect(downstreamCalls).toBe(3) // the local breaker opened at the threshold
    clock.advance(1_000)
    downstreamCalls = 0
    // 20 concurrent invocations of this environment (Lambda Managed Instances) arrive.
    const held = gate()
    const calls = Array.from({ length: 20 }, () =>
      breaker
        .execute(async () => {
          downstreamCalls++
          await held.opened
          throw new ServiceUnavailable()
        })
        .catch(() => undefined),
    )
    await new Promise((resolve) => setImmediate(resolve))
    held.open()
    await Promise.all(calls)
    // A breaker of the environment's own goes half-open and admits one trial call.
    expect(downstreamCalls).toBeLessThanOrEqual(1)
  })
})

/** Guarantee: an operator's change reaches every environment within cacheTtlMs, whatever it has cached. */
describe('an operator reset reaches an environment whose local breaker opened during a store outage', () => {
  it('admits calls within cacheTtlMs after the store recovered and the operator reset the circuit', async () => {
    const { members, clock, reader } = environments(1, {
      failureThreshold: 2,
      resetTimeoutMs: 120_000,
      cacheTtlMs: 5_000,
    })
    const { store, breaker } = only(members)
    store.fault = 'error'
    await rejectionOf(breaker.execute(async () => Promise.reject(new ServiceUnavailable())))
    await rejectionOf(breaker.execute(async () => Promise.reject(new ServiceUnavailable())))
    store.fault = 'none' // the store is back
    await reader.reset() // the operator: "the downstream is fine, let traffic through"
    clock.advance(5_000)
    const outcome = await breaker.execute(succeeds).catch((error: unknown) => error)
    if (isCircuitOpenError(outcome)) expect(outcome.reason).not.toBe(RejectionReason.LOCALLY_OPEN)
    expect(outcome).toBe('ok')
  })
})
