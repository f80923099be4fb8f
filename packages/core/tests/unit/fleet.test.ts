import { CircuitState, TransitionReason } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

describe('a fleet sharing one store', () => {
  it('counts K concurrent failures as K', async () => {
    const { breakers, breaker } = fleet(20, { failureThreshold: 100 })
    await Promise.all(breakers.map((environment) => rejectionOf(environment.execute(fails))))
    const snapshot = await breaker.getState()
    expect(snapshot.state).toBe(CircuitState.CLOSED)
    expect(snapshot.failures).toBe(20)
  })

  it('opens once: exactly one environment reports the transition as its own', async () => {
    const { breakers, changes } = fleet(50, { failureThreshold: 5 })
    await Promise.all(breakers.map((environment) => rejectionOf(environment.execute(fails))))
    const local = changes.filter((change) => change.origin === 'local')
    expect(local).toHaveLength(1)
    expect(local[0]).toMatchObject({
      from: CircuitState.CLOSED,
      to: CircuitState.OPEN,
      reason: TransitionReason.FAILURE_THRESHOLD,
    })
    // Environments whose failure arrived after the open learn of it from the answer to their write.
    const observed = changes.filter((change) => change.origin === 'observed')
    expect(observed.length).toBeGreaterThan(0)
    expect(observed.every((change) => change.to === CircuitState.OPEN)).toBe(true)
  })

  it('lets at most threshold + environments calls reach a dead downstream', async () => {
    const environments = 50
    const threshold = 5
    const { breakers } = fleet(environments, { failureThreshold: threshold })
    let downstreamCalls = 0
    const deadDownstream = async (): Promise<never> => {
      downstreamCalls++
      await Promise.resolve()
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
    }
    // Every environment keeps invoking, ten invocations each, all at once.
    await Promise.all(
      breakers.map(async (environment) => {
        for (let i = 0; i < 10; i++) await rejectionOf(environment.execute(deadDownstream))
      }),
    )
    expect(downstreamCalls).toBeLessThanOrEqual(threshold + environments)
  })

  it('sends exactly one probe when many environments reach the retry time together', async () => {
    const { breakers, breaker, clock } = fleet(8, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    let probes = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const outcomes = Promise.allSettled(
      breakers.map((environment) =>
        environment.execute(async () => {
          probes++
          await gate
          return 'ok'
        }),
      ),
    )
    await new Promise((resolve) => setImmediate(resolve))
    release()
    const settled = await outcomes
    expect(probes).toBe(1)
    expect(settled.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('runs at most halfOpenMaxProbes probes at once across the fleet', async () => {
    const { breakers, breaker, clock } = fleet(12, { failureThreshold: 1, resetTimeoutMs: 1_000, halfOpenMaxProbes: 3 })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    let inFlight = 0
    let mostInFlight = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const outcomes = Promise.allSettled(
      breakers.map((environment) =>
        environment.execute(async () => {
          inFlight++
          mostInFlight = Math.max(mostInFlight, inFlight)
          await gate
          inFlight--
          return 'ok'
        }),
      ),
    )
    await new Promise((resolve) => setImmediate(resolve))
    release()
    await outcomes
    expect(mostInFlight).toBe(3)
  })

  it('under random failures never returns from OPEN to CLOSED without a successful probe', async () => {
    const { breakers, clock, changes } = fleet(10, { failureThreshold: 3, resetTimeoutMs: 500 })
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let round = 0; round < 60; round++) {
      await Promise.all(
        breakers.map((environment) => environment.execute(random() < 0.5 ? fails : succeeds).catch(() => undefined)),
      )
      clock.advance(100)
    }
    const local = changes.filter((change) => change.origin === 'local')
    expect(local.some((change) => change.to === CircuitState.OPEN)).toBe(true)
    for (const change of local) {
      if (change.to === CircuitState.CLOSED) {
        expect(change.from).toBe(CircuitState.HALF_OPEN)
        expect(change.reason).toBe(TransitionReason.PROBE_SUCCEEDED)
      }
      if (change.from === CircuitState.OPEN) expect(change.to).toBe(CircuitState.HALF_OPEN)
    }
  })
})
