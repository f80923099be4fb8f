import { isCircuitOpenError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, pair, rejectionOf } from './support.js'

/**
 * Guarantee: a slow or dead store never holds the caller beyond its deadline; README bound: "a call
 * makes at most a read and the writes of its decision and its record, each bounded".
 * Attack: count the store calls one execute() makes one after another, and how many of them run
 * into storeTimeoutMs, when reads answer and some writes hang (a store slowed by a write burst).
 */
describe('how long one execute() can wait on the store', () => {
  it('makes at most a read, a decision write and a record write', async () => {
    const storeTimeoutMs = 20
    const { members, clock } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      halfOpenSuccessThreshold: 2,
      probeLeaseMs: 60_000,
      storeTimeoutMs,
    })
    const [a, b] = pair(members)
    await rejectionOf(b.breaker.execute(fails)) // b opens the circuit; a has no view yet
    clock.advance(1_000)
    // Writes of the half-open entry hang twice, then one lands with a late answer; the probe's
    // closing write and its completion hang. Every read answers at once.
    a.script.plan('transition', 'hang', 'hang', 'late-answer', 'hang').plan('completeProbe', 'hang')
    // The half-open entry goes unanswered and the read after it shows no lease: rejected, no retry.
    const error = await rejectionOf(a.breaker.execute(async () => 'recovered'))
    expect(isCircuitOpenError(error)).toBe(true)
    const calls = a.script.log.map((call) => `${call.op}:${call.directive}`)
    const deadlines = a.script.log.filter((call) => call.directive !== 'none').length
    const reads = a.script.log.filter((call) => call.op === 'get').length
    expect({ calls, reads, deadlines }).toEqual({
      calls: ['get:none', 'transition:hang', 'get:none'],
      reads: 2,
      deadlines: 1,
    })
  })
})
