import { CircuitState, isCircuitOpenError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, only, pair, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

/**
 * Guarantees: "Each action starts a new generation, so results of calls admitted before it never
 * count after it" and "records lost are followed". The generation fence of addFailure /
 * resetFailures ignores the record's incarnation: after a loss, the recreated record walks through
 * the same small generation numbers again.
 */
describe('a record lost and created again reuses generation numbers', () => {
  it('does not count a failure admitted before an operator reset (made after the record was lost)', async () => {
    const { members, shared, reader, raw } = environments(2, { failureThreshold: 1, cacheTtlMs: 0 })
    const [a, b] = pair(members)
    await reader.reset() // incarnation X, generation 1
    const slow = await a.breaker.admit() // a slow call admitted under (X, 1)
    if (!slow.admitted) throw new Error('expected admission')
    await shared.clearMany(['payment-api']) // the store loses the record (Redis restart, expired item)
    await reader.reset() // the operator resets: incarnation Y, generation 1 again
    await slow.permit.recordError(new ServiceUnavailable()) // the call admitted before the reset fails
    const record = await raw()
    expect(record?.state === CircuitState.CLOSED ? record.failures : 'not closed').toBe(0)
    // ... and the next environment to read finds the count at the threshold and opens the circuit.
    const next = await b.breaker.execute(succeeds).catch((e: unknown) => e)
    expect(isCircuitOpenError(next)).toBe(false)
  })

  it('does not let a success admitted before the loss erase failures counted on the new record', async () => {
    const { members, shared, reader, raw } = environments(3, { failureThreshold: 3, cacheTtlMs: 0 })
    const [a, b] = pair(members)
    await reader.reset() // (X, 1)
    await rejectionOf(a.breaker.execute(fails)) // a sees failures > 0 at (X, 1)
    const slow = await a.breaker.admit() // admitted under (X, 1), a's view: 1 failure
    if (!slow.admitted) throw new Error('expected admission')
    await shared.clearMany(['payment-api'])
    await reader.reset() // (Y, 1)
    await rejectionOf(b.breaker.execute(fails))
    await rejectionOf(b.breaker.execute(fails)) // (Y, 1) has 2 failures: one more opens it
    await slow.permit.recordResult('ok') // resetFailures(generation 1) from a call of (X, 1)
    const record = await raw()
    expect(record?.state === CircuitState.CLOSED ? record.failures : 'not closed').toBe(2)
  })
})

/**
 * Guarantee: answers delivered out of order never replace a newer view, and no 'observed' event
 * is invented by a stale answer. CircuitView.isNewer takes a record of another incarnation when
 * its request was *issued* later, but with several connections a request issued later can be
 * *applied* earlier, before the loss.
 */
describe('answers of two incarnations applied out of issue order', () => {
  it('does not go back to the lost incarnation, nor invent an observed re-opening', async () => {
    const { members, shared, changes } = environments(1, {
      failureThreshold: 1,
      resetTimeoutMs: 60_000,
      cacheTtlMs: 5_000,
    })
    const { breaker, script } = only(members)
    await rejectionOf(breaker.execute(fails)) // OPEN until +60 s, incarnation X
    changes.length = 0
    // Request 1 (an operator's forceClose from this environment) is issued first but waits on its
    // connection; request 2 (a read) is issued second, applied at once, and its answer is slow.
    script.plan('setForced', 'hold-request').plan('get', 'hold-answer')
    const forcing = breaker.forceClose({ reason: 'false alarm' })
    await new Promise((resolve) => setImmediate(resolve))
    const read = breaker.getState()
    await new Promise((resolve) => setImmediate(resolve))
    await shared.clearMany(['payment-api']) // the record is lost
    script.releaseRequests() // request 1 is applied now: it creates incarnation Y, forced closed
    await forcing
    script.releaseAnswers() // request 2's answer (the lost OPEN record of X) arrives last
    await read
    const after = await breaker.execute(succeeds).catch((e: unknown) => e)
    expect({
      changes: changes.map((change) => `${change.origin}:${change.from}->${change.to}`),
      after: isCircuitOpenError(after) ? `rejected (${after.reason})` : after,
    }).toEqual({ changes: ['local:OPEN->CLOSED'], after: 'ok' })
  })
})
