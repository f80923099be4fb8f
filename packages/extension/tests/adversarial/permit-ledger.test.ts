import { describe, expect, it } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { MAX_TRACKED_INVOCATIONS, PermitLedger, PermitLimitError } from '../../src/permit-ledger.js'
import { fakePermit } from '../support/fake-permit.js'

/* The ledger's rules where an adversarial caller or environment pushes on them, with a fake clock. */

function ledger(clock: { t: number }, options: { maxPermits?: number; concurrentInvocations?: boolean } = {}) {
  return new PermitLedger({
    maxPermits: options.maxPermits ?? 100,
    permitTtlMs: 60_000,
    logger: recordingLogger(),
    now: () => clock.t,
    concurrentInvocations: options.concurrentInvocations ?? false,
  })
}

describe('with several invocations at once', () => {
  it('an INVOKE keeps the permits of the others; each lapses at its own deadline, unnamed ones at the TTL', async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock, { concurrentInvocations: true })
    permits.beginInvocation('a', clock.t + 5_000)
    const ofA = permits.add(fakePermit().permit, { invocation: 'a' })
    const unnamed = permits.add(fakePermit().permit)
    permits.beginInvocation('b', clock.t + 20_000)
    const ofB = permits.add(fakePermit().permit, { invocation: 'b' })
    expect([permits.has(ofA), permits.has(unnamed), permits.has(ofB)]).toEqual([true, true, true])
    clock.t += 5_001
    permits.sweep()
    expect([permits.has(ofA), permits.has(unnamed), permits.has(ofB)]).toEqual([false, true, true])
    clock.t += 15_000
    permits.sweep()
    expect([permits.has(unnamed), permits.has(ofB)]).toEqual([true, false])
    clock.t += 60_000
    permits.sweep()
    expect(permits.size).toBe(0)
    await permits.close(clock.t)
  })
})

describe('a full ledger', () => {
  it('makes room for a check by displacing the oldest ordinary check, never a probe nor a permit', async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock, { maxPermits: 3 })
    const probe = fakePermit('c', true)
    const permit = fakePermit('c')
    const oldCheck = fakePermit('c')
    const probeId = permits.add(probe.permit, { fromCheck: true })
    const permitId = permits.add(permit.permit)
    const oldCheckId = permits.add(oldCheck.permit, { fromCheck: true })
    const newCheckId = permits.add(fakePermit('c').permit, { fromCheck: true })
    expect([permits.has(probeId), permits.has(permitId), permits.has(oldCheckId), permits.has(newCheckId)]).toEqual([
      true,
      true,
      false,
      true,
    ])
    // A permit of the permit API displaces nothing.
    expect(() => permits.add(fakePermit('c').permit)).toThrow(PermitLimitError)
    await permits.close(clock.t)
    expect(oldCheck.settled).toEqual(['released'])
  })
})

describe('the invocations remembered with several at once', () => {
  it(`are at most MAX_TRACKED_INVOCATIONS; a permit of a forgotten one lapses at the TTL`, async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock, { concurrentInvocations: true })
    permits.beginInvocation('first', clock.t + 1_000)
    for (let i = 0; i < MAX_TRACKED_INVOCATIONS; i++) permits.beginInvocation(`later-${i}`, clock.t + 600_000)
    const ofFirst = permits.add(fakePermit().permit, { invocation: 'first' })
    const ofLater = permits.add(fakePermit().permit, { invocation: 'later-0' })
    clock.t += 1_001
    permits.sweep()
    expect([permits.has(ofFirst), permits.has(ofLater)]).toEqual([true, true])
    clock.t += 60_000
    permits.sweep()
    expect([permits.has(ofFirst), permits.has(ofLater)]).toEqual([false, false])
    await permits.close(clock.t)
  })
})
