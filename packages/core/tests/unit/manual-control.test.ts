import { CircuitState, InvalidConfigurationError, RejectionReason, TransitionReason } from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

describe('manual control', () => {
  it('forces the circuit open for every environment, with the reason in the rejection', async () => {
    const { breakers, changes } = fleet(2, { cacheTtlMs: 0 })
    const [operator, environment] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await operator.forceOpen({ reason: 'provider maintenance' })
    const error = await rejectionOf(environment.execute(succeeds))
    expect(error).toMatchObject({
      reason: RejectionReason.FORCED_OPEN,
      forcedReason: 'provider maintenance',
      state: CircuitState.OPEN,
    })
    expect(changes.filter((change) => change.origin === 'local')).toEqual([
      expect.objectContaining({
        from: CircuitState.CLOSED,
        to: CircuitState.OPEN,
        reason: TransitionReason.FORCED_OPEN,
      }),
    ])
  })

  it('wins over automatic transitions: a forced-closed circuit neither counts nor opens', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1 })
    await breaker.forceClose({ reason: 'known flaky, keep serving' })
    for (let i = 0; i < 5; i++) await rejectionOf(breaker.execute(fails))
    const snapshot = await breaker.getState()
    expect(snapshot.state).toBe(CircuitState.CLOSED)
    expect(snapshot.failures).toBe(0)
  })

  it('keeps an open circuit open past its retry time while forced open', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    await breaker.forceOpen()
    clock.advance(60_000)
    expect(await rejectionOf(breaker.execute(succeeds))).toMatchObject({ reason: RejectionReason.FORCED_OPEN })
  })

  it('lets an override lapse after its duration', async () => {
    const { breaker, clock } = fleet(1, { cacheTtlMs: 0 })
    await breaker.forceOpen({ durationMs: 5_000 })
    expect(await rejectionOf(breaker.execute(succeeds))).toMatchObject({ retryAfterMs: 5_000 })
    clock.advance(5_000)
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })

  it('returns to the frozen automatic state when the override is cleared', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 10_000 })
    await rejectionOf(breaker.execute(fails))
    await breaker.forceClose()
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    const snapshot = await breaker.clearOverride()
    expect(snapshot.state).toBe(CircuitState.OPEN)
  })

  it('resets counts, backoff and override', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1 })
    await rejectionOf(breaker.execute(fails))
    await breaker.forceOpen()
    const snapshot = await breaker.reset()
    expect(snapshot).toMatchObject({ state: CircuitState.CLOSED, failures: 0, openCount: 0 })
    expect(snapshot.forced).toBeUndefined()
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })

  it('rejects a bad override duration with a typed error', async () => {
    const { breaker } = fleet(1)
    await expect(breaker.forceOpen({ durationMs: -5 })).rejects.toThrow(InvalidConfigurationError)
    await expect(breaker.forceOpen({ durationMs: -5 })).rejects.toThrow(/durationMs must be .* received -5/)
  })
})
