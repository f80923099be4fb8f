import {
  CircuitState,
  isCircuitBreakerError,
  isStoreUnavailableError,
  StoreUnavailableError,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { fails, fleet, rejectionOf } from './support.js'

/*
 * An operator acts during an incident, often while the store is the thing in trouble: every manual
 * action that the store did not take must say so with the typed store error, never a plain Error.
 */
const actions = [
  ['forceOpen', 'setForced'],
  ['forceClose', 'setForced'],
  ['clearOverride', 'setForced'],
  ['reset', 'reset'],
] as const

describe('manual actions while the store cannot be reached', () => {
  it.each(actions)('%s throws StoreUnavailableError with the store error as its cause', async (action, operation) => {
    const { breaker, store } = fleet(1)
    store.fault = 'error'
    const error = await rejectionOf(breaker[action]())
    expect(error).toBeInstanceOf(StoreUnavailableError)
    expect(isStoreUnavailableError(error)).toBe(true)
    expect(isCircuitBreakerError(error)).toBe(true)
    expect(error).toMatchObject({ name: 'StoreUnavailableError', circuitId: 'payment-api', operation })
    expect(((error as Error).cause as Error).message).toMatch(/injected store failure/)
    expect((error as Error).message).toContain(operation)
  })

  it('throws StoreUnavailableError when the store never answers (the deadline passes)', async () => {
    const { breaker, store } = fleet(1, { storeTimeoutMs: 50 })
    store.fault = 'hang'
    const error = await rejectionOf(breaker.forceOpen({ reason: 'maintenance' }))
    expect(isStoreUnavailableError(error)).toBe(true)
    expect((error as Error).cause).toMatchObject({ name: 'StoreDeadlineError' })
  }, 20_000)

  it('asks the store even while calls skip it, so an action after the store came back is applied', async () => {
    const { breaker, store, clock } = fleet(1, { cacheTtlMs: 0, storeRetryIntervalMs: 60_000 })
    store.fault = 'error'
    await rejectionOf(breaker.execute(fails)) // a failed read: calls now skip the store for a minute
    store.fault = 'none'
    clock.advance(1_000)
    const snapshot = await breaker.forceOpen({ reason: 'maintenance' })
    expect(snapshot.state).toBe(CircuitState.OPEN)
  })
})
