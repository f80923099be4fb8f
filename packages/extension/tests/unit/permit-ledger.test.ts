import { describe, expect, it } from '@jest/globals'
import { recordingLogger } from '../../../../test-support/logger.js'
import { ATTRIBUTION_GRACE_MS, PermitLedger, PermitLimitError } from '../../src/permit-ledger.js'
import { fakePermit } from '../support/fake-permit.js'

function ledger(now: { t: number }, options: { maxPermits?: number; permitTtlMs?: number } = {}) {
  return new PermitLedger({
    maxPermits: options.maxPermits ?? 100,
    permitTtlMs: options.permitTtlMs ?? 900_000,
    logger: recordingLogger(),
    now: () => now.t,
  })
}

const FAR = 10_000_000

describe('the permit ledger', () => {
  it('releases what an invocation left unsettled when the next one begins', async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock)
    permits.beginInvocation('a', clock.t + FAR)
    const left = fakePermit()
    const id = permits.add(left.permit)
    clock.t += ATTRIBUTION_GRACE_MS + 1
    permits.beginInvocation('b', clock.t + FAR)
    expect(permits.has(id)).toBe(false)
    await permits.close(clock.t)
    expect(left.settled).toEqual(['released'])
  })

  it('gives a permit admitted just before an INVOKE was read to the new invocation', () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock)
    permits.beginInvocation('a', clock.t + FAR)
    clock.t += 5_000
    const early = permits.add(fakePermit().permit)
    clock.t += ATTRIBUTION_GRACE_MS - 1
    permits.beginInvocation('b', clock.t + FAR)
    expect(permits.has(early)).toBe(true)
    clock.t += ATTRIBUTION_GRACE_MS + 1
    permits.beginInvocation('c', clock.t + FAR)
    expect(permits.has(early)).toBe(false)
  })

  it('keeps a permit named with a later invocation until that one ends', () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock)
    permits.beginInvocation('a', clock.t + FAR)
    const named = permits.add(fakePermit().permit, { invocation: 'b' })
    clock.t += 10_000
    permits.beginInvocation('b', clock.t + FAR)
    expect(permits.has(named)).toBe(true)
    clock.t += 10_000
    permits.beginInvocation('c', clock.t + FAR)
    expect(permits.has(named)).toBe(false)
  })

  it('settles the waiting check of a circuit, a probe first, and only once', async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock)
    const ordinary = fakePermit('c', false)
    const probe = fakePermit('c', true)
    permits.add(ordinary.permit, { fromCheck: true })
    permits.add(probe.permit, { fromCheck: true })
    expect(await permits.settleCheck('c', 'success')).toBe('success')
    expect(probe.settled).toEqual(['success'])
    expect(await permits.settleCheck('c', 'failure')).toBe('failure')
    expect(ordinary.settled).toEqual(['failure'])
    expect(permits.settleCheck('c', 'failure')).toBeUndefined()
    expect(permits.isBusy('c')).toBe(false)
  })

  it('refuses beyond maxPermits (giving the permit back) and releases permits older than permitTtlMs', async () => {
    const clock = { t: 1_000 }
    const permits = ledger(clock, { maxPermits: 1, permitTtlMs: 5_000 })
    const first = fakePermit()
    permits.add(first.permit)
    const refused = fakePermit()
    expect(() => permits.add(refused.permit)).toThrow(PermitLimitError)
    clock.t += 5_000
    const later = fakePermit()
    permits.add(later.permit)
    await permits.close(clock.t + 1_000)
    expect(refused.settled).toEqual(['released'])
    expect(first.settled).toEqual(['released'])
    expect(later.settled).toEqual(['released'])
  })
})
