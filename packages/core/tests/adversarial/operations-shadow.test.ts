import { CircuitAdmin, CircuitState } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, only, pair, rejectionOf } from './support.js'

/*
 * Shadow mode across a fleet: the breakers decide and record exactly as without it, so the fleet's
 * guarantees hold while every call is let through: failures counted once, one environment makes
 * each transition, at most halfOpenMaxProbes leases, and a call let through only because of shadow
 * mode never takes or holds a lease, nor moves a half-open circuit.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const FLEET = 5

const options = {
  failureThreshold: 3,
  resetTimeoutMs: 1_000,
  halfOpenMaxProbes: 1,
  halfOpenSuccessThreshold: 1,
  probeLeaseMs: 60_000,
  cacheTtlMs: 0,
}

describe('shadow mode across a fleet', () => {
  it('keeps exact counts, one transition winner and at most one lease while letting every call through', async () => {
    const fleet = environments(FLEET, { ...options, shadow: true })
    const { members, clock, raw, local } = fleet
    // Closed: two failures from each of two environments at once: counted exactly, opened once.
    const [first, second] = pair(members)
    await Promise.all([first, second].map((member) => rejectionOf(member.breaker.execute(fails))))
    const counting = await raw()
    expect(counting?.state === CircuitState.CLOSED && counting.failures).toBe(2)
    await Promise.all(members.map((member) => rejectionOf(member.breaker.execute(fails))))
    const opened = await raw()
    expect(opened?.state).toBe(CircuitState.OPEN)
    expect(local().filter((change) => change.to === CircuitState.OPEN)).toHaveLength(1)

    // Open: every call is let through, and none of their failures writes anything.
    const generation = opened?.generation
    for (const member of members) member.store.resetCounts()
    const admissions = await Promise.all(members.map((member) => member.breaker.admit()))
    expect(admissions.every((admission) => admission.admitted && !admission.permit.isProbe)).toBe(true)
    for (const admission of admissions) if (admission.admitted) await admission.permit.recordFailure()
    expect(members.reduce((writes, member) => writes + member.store.writes, 0)).toBe(0)
    expect((await raw())?.generation).toBe(generation)

    // Half-open: everyone asks at once; one probe with a lease, the rest let through lease-less.
    clock.advance(1_000)
    const racing = await Promise.all(members.map((member) => member.breaker.admit()))
    expect(racing.every((admission) => admission.admitted)).toBe(true)
    const probes = racing.filter((admission) => admission.admitted && admission.permit.isProbe)
    expect(probes).toHaveLength(1)
    const halfOpen = await raw()
    expect(halfOpen?.state === CircuitState.HALF_OPEN && halfOpen.probes.length).toBe(1)
    // The shadow calls fail: nothing moves; the probe succeeds: the circuit closes, once.
    for (const admission of racing) {
      if (admission.admitted && !admission.permit.isProbe) await admission.permit.recordFailure()
    }
    expect((await raw())?.state).toBe(CircuitState.HALF_OPEN)
    const [probe] = probes
    if (probe?.admitted) await probe.permit.recordSuccess()
    expect((await raw())?.state).toBe(CircuitState.CLOSED)
    expect(local().filter((change) => change.to === CircuitState.HALF_OPEN)).toHaveLength(1)
    expect(local().filter((change) => change.to === CircuitState.CLOSED)).toHaveLength(1)
  })

  it('a fleet-wide shadow override switched on mid-outage lets calls through at once, and its end restores rejection', async () => {
    const fleet = environments(FLEET, options)
    const { members, clock, shared, raw } = fleet
    const [first, second] = pair(members)
    const admin = new CircuitAdmin({ store: shared, actor: 'sre', logger: silent, now: clock.now })
    for (let index = 0; index < 3; index++) await rejectionOf(first.breaker.execute(fails))
    expect((await raw())?.state).toBe(CircuitState.OPEN)
    expect((await second.breaker.admit()).admitted).toBe(false)

    await admin.setShadow('payment-api', true, { reason: 'tuning', durationMs: 500 })
    const during = await Promise.all(members.map((member) => member.breaker.admit()))
    expect(during.every((admission) => admission.admitted && !admission.permit.isProbe)).toBe(true)
    for (const admission of during) if (admission.admitted) await admission.permit.release()

    // The timed shadow override ends on its own (before the circuit's retry time).
    clock.advance(600)
    const after = await Promise.all(members.map((member) => member.breaker.admit()))
    expect(after.every((admission) => !admission.admitted)).toBe(true)
    // Switched on again, then off by hand, mid-outage: rejection is back at once.
    await admin.setShadow('payment-api', true, { reason: 'again' })
    expect((await second.breaker.admit()).admitted).toBe(true)
    await admin.setShadow('payment-api', false, { reason: 'done' })
    expect((await second.breaker.admit()).admitted).toBe(false)
    // The operator's switches never moved the automatic state.
    expect((await raw())?.state).toBe(CircuitState.OPEN)
  })

  it('a forced open still rejects in shadow mode', async () => {
    const { members, clock, shared } = environments(1, { ...options, shadow: true })
    const admin = new CircuitAdmin({ store: shared, actor: 'sre', logger: silent, now: clock.now })
    await admin.forceOpen('payment-api', { reason: 'INC-9' })
    const admission = await only(members).breaker.admit()
    expect(admission.admitted).toBe(false)
  })
})
