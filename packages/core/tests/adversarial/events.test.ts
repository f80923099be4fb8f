import { CircuitState } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, gate, only, rejectionOf } from './support.js'

/**
 * Guarantee: exactly one environment performs and reports each transition as origin 'local'.
 * Attack: dozens of concurrent invocations in ONE environment (Lambda Managed Instances) contend
 * for the same transition. No store fault at all.
 */
describe('exactly one local report per transition, with concurrent invocations in one environment', () => {
  it('reports OPEN -> HALF_OPEN as local when 20 invocations of one environment reach the retry time together', async () => {
    const { members, clock, local, changes, raw } = environments(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const { breaker } = only(members)
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    const probe = gate()
    const calls = Array.from({ length: 20 }, () =>
      breaker
        .execute(async () => {
          await probe.opened
          return 'ok'
        })
        .catch(() => 'rejected'),
    )
    await new Promise((resolve) => setImmediate(resolve))
    // The half-open entry was applied by this very environment (the store says so).
    const record = await raw()
    expect(record?.state).toBe(CircuitState.HALF_OPEN)
    probe.open()
    await Promise.allSettled(calls)
    const entries = changes.filter(
      (change) => change.from === CircuitState.OPEN && change.to === CircuitState.HALF_OPEN,
    )
    expect(entries.map((change) => change.origin)).toEqual(['local'])
    expect(local().map((change) => `${change.from}->${change.to}`)).toEqual([
      'CLOSED->OPEN',
      'OPEN->HALF_OPEN',
      'HALF_OPEN->CLOSED',
    ])
  })

  it('reports CLOSED -> OPEN as local when many concurrent invocations of one environment fail together', async () => {
    const { members, local, changes } = environments(1, { failureThreshold: 3 })
    const { breaker } = only(members)
    await Promise.allSettled(Array.from({ length: 30 }, () => breaker.execute(fails)))
    const opens = changes.filter((change) => change.to === CircuitState.OPEN)
    expect(opens.map((change) => change.origin)).toEqual(['local'])
    expect(local()).toHaveLength(1)
  })
})
