import { CircuitState } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, only, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

const failing = async (): Promise<never> => {
  throw new ServiceUnavailable()
}

/** Guarantee: no lost failure counts (failure-rate mode, `addCounts`). */
describe('failure-rate mode: counts gathered in an environment', () => {
  it('keeps the current generation’s gathered counts when a call admitted under an older generation settles late', async () => {
    const { members, reader, raw } = environments(1, {
      failureRateThreshold: 0.5,
      minimumCalls: 4,
      rateFlushIntervalMs: 10_000,
      cacheTtlMs: 0,
    })
    const { breaker } = only(members)
    await breaker.execute(succeeds) // the first outcome is written at once (gen 0)
    const slow = await breaker.admit() // a slow call admitted under generation 0
    if (!slow.admitted) throw new Error('expected admission')
    await reader.reset() // generation 1 (an operator, or the circuit cycling elsewhere)
    for (let call = 0; call < 3; call++) await rejectionOf(breaker.execute(failing)) // gathered: 3 of 3 failed
    await slow.permit.recordResult('ok') // the generation-0 call settles: FailureRate resets #gathered
    await rejectionOf(breaker.execute(failing)) // 4 of 4 calls of generation 1 failed
    const record = await raw()
    expect(record?.state).toBe(CircuitState.OPEN)
  })

  it('sends again every write whose answer was lost, also when two are lost concurrently', async () => {
    const { members, raw } = environments(1, {
      failureRateThreshold: 0.9,
      minimumCalls: 100,
      rateFlushIntervalMs: 0, // every outcome is written
    })
    const { breaker, script } = only(members)
    await breaker.execute(succeeds) // calls: 1
    script.plan('addCounts', 'error', 'error') // two concurrent writes fail (not applied)
    await Promise.all([rejectionOf(breaker.execute(failing)), rejectionOf(breaker.execute(failing))])
    await breaker.execute(succeeds) // the next write sends the unconfirmed counts first
    const record = await raw()
    const counts = record?.state === CircuitState.CLOSED ? { calls: record.calls, failures: record.failures } : record
    expect(counts).toEqual({ calls: 4, failures: 2 })
  })
})

/** Guarantee: never less protected than a per-environment breaker (failure-rate mode). */
describe('failure-rate mode while the store is down', () => {
  it('sends at most failureThreshold calls to a dead downstream per resetTimeoutMs', async () => {
    const { members } = environments(1, {
      failureRateThreshold: 0.5,
      failureThreshold: 3,
      resetTimeoutMs: 60_000,
    })
    const { store, breaker } = only(members)
    store.fault = 'error'
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
})
