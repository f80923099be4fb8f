import { CircuitState, isCircuitOpenError } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { environments, fails, pair, rejectionOf, succeeds } from './support.js'

/** Guarantee: no orphaned lease (after all calls settle, no lease is held). */
describe('orphaned probe leases', () => {
  it('leaves no lease behind when an operator forces the circuit during a probe and then clears the override', async () => {
    const { members, clock, reader, raw } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      probeLeaseMs: 60_000,
    })
    const [a, b] = pair(members)
    await rejectionOf(a.breaker.execute(fails))
    clock.advance(1_000)
    const admission = await a.breaker.admit()
    if (!admission.admitted || !admission.permit.isProbe) throw new Error('expected a probe')
    await reader.forceOpen({ reason: 'maintenance' }) // races the probe
    await admission.permit.recordResult('ok') // the probe settles
    await reader.clearOverride()
    const record = await raw()
    expect(record?.state).toBe(CircuitState.HALF_OPEN)
    // Consequence: every environment is refused 'probes-busy' until probeLeaseMs (60 s) lapses.
    const error = await b.breaker.execute(succeeds).catch((e: unknown) => e)
    expect({
      leases: record?.state === CircuitState.HALF_OPEN ? record.probes.length : 0,
      next: isCircuitOpenError(error) ? error.reason : 'admitted',
    }).toEqual({ leases: 0, next: 'admitted' })
  })

  it('gives the lease back under fail-closed when the read after a late half-open entry fails', async () => {
    const { members, clock, raw } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      probeLeaseMs: 60_000,
      storeTimeoutMs: 5,
      storeOutage: 'fail-closed',
    })
    const [a, b] = pair(members)
    await rejectionOf(a.breaker.execute(fails))
    clock.advance(1_000)
    // The half-open entry is applied but its answer comes after the deadline; the read that follows fails.
    a.script.plan('transition', 'late-answer').plan('get', 'error')
    const error = await rejectionOf(a.breaker.execute(succeeds))
    expect(error).toMatchObject({ name: 'StoreUnavailableError' })
    // The decider then calls completeProbe to give the lease back ... but the StoreGuard skips it,
    // because the failed read just started an outage "skip" window.
    const completes = a.script.log.filter((call) => call.op === 'completeProbe').length
    const record = await raw()
    const next = await b.breaker.execute(succeeds).catch((e: unknown) => (isCircuitOpenError(e) ? e.reason : e))
    expect({
      completes,
      leases: record?.state === CircuitState.HALF_OPEN ? record.probes.length : 0,
      next,
    }).toEqual({ completes: 1, leases: 0, next: 'ok' })
  })

  it('gives the lease back when the write recording a probe failure fails', async () => {
    const { members, clock, raw } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      probeLeaseMs: 60_000,
    })
    const [a, b] = pair(members)
    await rejectionOf(a.breaker.execute(fails))
    clock.advance(1_000)
    const admission = await a.breaker.admit()
    if (!admission.admitted || !admission.permit.isProbe) throw new Error('expected a probe')
    a.script.plan('transition', 'error') // the reopening write fails (not applied)
    await admission.permit.recordFailure()
    const record = await raw()
    const error = await b.breaker.execute(succeeds).catch((e: unknown) => e)
    expect({
      leases: record?.state === CircuitState.HALF_OPEN ? record.probes.length : 0,
      next: isCircuitOpenError(error) ? error.reason : 'admitted',
    }).toEqual({ leases: 0, next: 'admitted' })
  })
})

/** Guarantee: at most halfOpenMaxProbes probes fleet-wide (isProbe admissions in flight). */
describe('probes in flight fleet-wide', () => {
  it('never has more than halfOpenMaxProbes probe permits in flight when one environment cannot confirm its lease', async () => {
    const { members, clock, raw } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      halfOpenMaxProbes: 1,
      halfOpenSuccessThreshold: 2,
      probeLeaseMs: 60_000,
      storeTimeoutMs: 5,
      storeRetryIntervalMs: 0,
    })
    const [a, b] = pair(members)
    await rejectionOf(a.breaker.execute(fails)) // a holds an OPEN view
    clock.advance(1_000)
    const real = await b.breaker.admit() // b makes the half-open entry: the one real probe
    if (!real.admitted || !real.permit.isProbe) throw new Error('expected b to probe')
    // a's half-open entry never reaches the store (not applied) and its follow-up read fails.
    a.script.plan('transition', 'hang').plan('get', 'error')
    const leaseless = await a.breaker.admit()
    let inFlight = 0
    if (real.admitted && real.permit.isProbe) inFlight++
    if (leaseless.admitted && leaseless.permit.isProbe) inFlight++
    // A call that cannot know it holds a lease is never a probe, and counts no probe success.
    if (leaseless.admitted) await leaseless.permit.recordResult('ok')
    await real.permit.recordResult('ok')
    expect({ inFlight, state: (await raw())?.state }).toEqual({ inFlight: 1, state: CircuitState.HALF_OPEN })
  })

  it('does not admit a second probe while the first runs up to its call timeout (the default lease covers it)', async () => {
    const { members, clock } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      halfOpenMaxProbes: 1,
      callTimeoutMs: 60_000,
    })
    const [a, b] = pair(members)
    await rejectionOf(a.breaker.execute(fails))
    clock.advance(1_000)
    let inFlight = 0
    let most = 0
    const probe = async () => {
      inFlight++
      most = Math.max(most, inFlight)
      clock.advance(60_000) // the downstream is as slow as the call timeout allows
      await b.breaker
        .execute(async () => {
          inFlight++
          most = Math.max(most, inFlight)
          inFlight--
          return 'ok'
        })
        .catch(() => undefined)
      inFlight--
      return 'ok'
    }
    await a.breaker.execute(probe)
    expect(most).toBeLessThanOrEqual(1)
  })
})
