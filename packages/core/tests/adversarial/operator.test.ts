import { CircuitState } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, only, rejectionOf } from './support.js'

/**
 * Guarantee: "Manual actions always emit a local change"; "an instance whose transition's answer
 * was lost reports it when a later answer shows the record it produced".
 * Attack: the operator's write is expected "from" the generation of a possibly stale view, and
 * CircuitView.#confirm drops an expectation as lost as soon as it sees generation from + 1 made
 * by someone else. For an operator write (not conditional on the generation) that is wrong.
 */
describe('an operator action made while another request of the same environment is in flight', () => {
  it('is reported as local (no fault at all: a read in flight when the operator acts)', async () => {
    const { members, reader, changes } = environments(1, { cacheTtlMs: 0 })
    const { breaker } = only(members)
    await reader.reset() // generation 1
    await breaker.getState() // this environment knows generation 1
    await reader.forceOpen({ reason: 'someone else' }) // generation 2, by another operator
    // An invocation's read and the operator's clear leave together; the read answers first.
    const [, cleared] = await Promise.all([breaker.getState(), breaker.clearOverride()])
    expect(cleared.record.generation).toBe(3)
    expect(changes.filter((change) => change.origin === 'local').map((change) => change.reason)).toEqual([
      'override-ended',
    ])
  })
})

describe('an operator action whose answer was lost', () => {
  it('is reported as local once a later answer shows it, even after an older generation was seen', async () => {
    const { members, reader, changes } = environments(1, { cacheTtlMs: 0 })
    const { breaker, script } = only(members)
    await reader.reset() // generation 1
    await breaker.getState() // this environment knows generation 1
    await reader.forceOpen({ reason: 'someone else' }) // generation 2, by another operator
    script.plan('get', 'hold-answer')
    const staleRead = breaker.getState() // applied now (sees generation 2), answer held
    await new Promise((resolve) => setImmediate(resolve))
    script.plan('setForced', 'lose-answer')
    await rejectionOf(breaker.clearOverride()) // applied (generation 3, changedBy this op), answer lost
    script.releaseAnswers()
    await staleRead // generation 2 = expected "from" (1) + 1, made by someone else: expectation dropped
    const snapshot = await breaker.getState() // generation 3, changedBy this environment's op
    expect(snapshot.record.generation).toBe(3)
    expect(snapshot.state).toBe(CircuitState.CLOSED)
    expect(changes.filter((change) => change.record.generation === 3).map((change) => change.origin)).toEqual(['local'])
  })
})
