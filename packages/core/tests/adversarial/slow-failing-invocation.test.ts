import { CircuitState, TransitionReason } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, rejectionOf } from './support.js'

/**
 * Guarantee: "exactly one environment performs and reports each transition", also when the
 * circuit goes through half-open twice. An invocation still failing when the retry falls due is
 * admitted as a probe, fails and reopens the circuit; the recovery then enters half-open again.
 * Each half-open entry here loses its answer (applied, then the connection drops), so each is
 * confirmed by the read that follows it: two entries, two generations, one local report each.
 */
describe('an invocation that outlasts the reset timeout while failing', () => {
  it('reports each of the two half-open entries once, by the environment that made it', async () => {
    const { clock, members, changes, local, raw } = environments(4, {
      failureThreshold: 3,
      resetTimeoutMs: 1_500,
      halfOpenMaxProbes: 2,
      halfOpenSuccessThreshold: 2,
      cacheTtlMs: 50,
      probeLeaseMs: 20_000,
    })
    const [opener, slow, recoverer, second] = members
    if (opener === undefined || slow === undefined || recoverer === undefined || second === undefined)
      throw new Error('expected four environments')
    for (let i = 0; i < 3; i++) await rejectionOf(opener.breaker.execute(fails))
    expect((await raw())?.state).toBe(CircuitState.OPEN)

    // The slow invocation's next failing call comes after the retry is due: it enters half-open
    // (answer lost), learns from a read that it holds the lease, and its failure reopens.
    clock.advance(1_600)
    slow.script.plan('transition', 'lose-answer')
    await rejectionOf(slow.breaker.execute(fails))
    const reopened = await raw()
    expect({ state: reopened?.state, generation: reopened?.generation }).toEqual({
      state: CircuitState.OPEN,
      generation: 3,
    })

    // The recovery: another environment enters half-open (answer lost again), a fourth takes the
    // second probe slot, and both probes succeed.
    if (reopened?.state !== CircuitState.OPEN) throw new Error('expected the circuit reopened')
    clock.advance(reopened.retryAt - clock.now() + 1)
    recoverer.script.plan('transition', 'lose-answer')
    const first = await recoverer.breaker.admit()
    const next = await second.breaker.admit()
    expect([first.admitted && first.permit.isProbe, next.admitted && next.permit.isProbe]).toEqual([true, true])
    if (first.admitted) await first.permit.recordResult('ok')
    if (next.admitted) await next.permit.recordResult('ok')
    for (const member of members) await member.breaker.getState()

    const record = await raw()
    expect({ state: record?.state, generation: record?.generation }).toEqual({
      state: CircuitState.CLOSED,
      generation: 5,
    })
    expect(local().map((c) => `${c.env}:${c.from}->${c.to} (${c.reason})`)).toEqual([
      `0:CLOSED->OPEN (${TransitionReason.FAILURE_THRESHOLD})`,
      `1:OPEN->HALF_OPEN (${TransitionReason.RETRY_DUE})`,
      `1:HALF_OPEN->OPEN (${TransitionReason.PROBE_FAILED})`,
      `2:OPEN->HALF_OPEN (${TransitionReason.RETRY_DUE})`,
      `3:HALF_OPEN->CLOSED (${TransitionReason.PROBE_SUCCEEDED})`,
    ])
    // No transition is reported as local twice, whichever answer confirmed it.
    const reported = changes.filter((c) => c.origin === 'local').map((c) => c.record.changedBy)
    expect(new Set(reported).size).toBe(reported.length)
  })
})
