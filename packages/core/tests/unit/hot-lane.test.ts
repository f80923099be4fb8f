import {
  CircuitBreaker,
  CircuitState,
  isCircuitOpenError,
  isConcurrencyLimitError,
  MemoryStore,
  RejectionReason,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { READS_PER_READING } from '../../src/turn-clock.js'
import { fails, fleet, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

/**
 * A call the test settles when it chooses: admitted now, failing or succeeding later, as a slow
 * downstream call of one invocation does while others go on.
 */
function pendingCall<T>() {
  let settle!: { resolve: (value: T) => void; reject: (error: unknown) => void }
  const outcome = new Promise<T>((resolve, reject) => {
    settle = { resolve, reject }
  })
  return { fn: () => outcome, ...settle }
}

// Calls without per-call options on a trusted closed view run without a decision of their own
// (the breaker's hot lane). These are the cases where a shortcut would change what is recorded.
describe('calls on a trusted closed view', () => {
  it('counts a failure against the generation its call was admitted under, not a later one', async () => {
    const { breakers, clock, store } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await a.execute(succeeds) // a trusts the closed view
    const slow = pendingCall<string>()
    const running = a.execute(slow.fn) // admitted under the first closed generation
    await rejectionOf(b.execute(fails)) // opens the circuit for the fleet
    clock.advance(1_000)
    await b.execute(succeeds) // b's probe closes it: a new closed generation
    await a.getState() // a learns the new generation
    await a.execute(succeeds) // and calls under it
    slow.reject(new ServiceUnavailable())
    await rejectionOf(running)
    // The old call's failure belongs to a generation that is gone: it must not open the new one.
    const record = await store.inner.get('payment-api')
    expect(record?.state).toBe(CircuitState.CLOSED)
    expect(record?.state === CircuitState.CLOSED && record.failures).toBe(0)
    await expect(a.execute(succeeds)).resolves.toBe('ok')
  })

  it('stops trusting the view when cacheTtlMs has passed, on the real clock too', async () => {
    // The default clock: the lane's times are then kept as small integers (see breaker.ts).
    const store = new MemoryStore()
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store, cacheTtlMs: 100 })
    const operator = new CircuitBreaker({ circuitId: 'payment-api', store })
    await breaker.execute(succeeds)
    const trustedFrom = Date.now()
    await operator.forceOpen({ reason: 'drill' })
    // Still inside the view's trust (unless this machine paused for that long), calls go through.
    const early = await breaker.execute(succeeds).catch((error: unknown) => error)
    if (Date.now() - trustedFrom < 100) expect(early).toBe('ok')
    await new Promise((resolve) => setTimeout(resolve, 150))
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.FORCED_OPEN)
  })

  /** A circuit an operator has forced open, and a breaker that still trusts it closed, for `trustMs`. */
  async function trustedAfterForcedOpen(trustMs: number) {
    // The real clock: calls back to back in one turn share its readings (turn-clock.ts).
    const store = new MemoryStore()
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store, cacheTtlMs: trustMs })
    const operator = new CircuitBreaker({ circuitId: 'payment-api', store })
    await breaker.execute(succeeds)
    const trustEndsBy = Date.now() + trustMs
    await operator.forceOpen({ reason: 'drill' })
    await new Promise((resolve) => setImmediate(resolve))
    return { breaker, trustEndsBy }
  }

  it('lets at most 15 calls of a burst through once its trust has ended within the burst', async () => {
    const { breaker, trustEndsBy } = await trustedAfterForcedOpen(20)
    const burst = Array.from({ length: 100 }, () => breaker.execute(succeeds))
    while (Date.now() <= trustEndsBy) {} // the turn's own work outlasts the view's trust
    const late = await Promise.allSettled(Array.from({ length: 40 }, () => breaker.execute(succeeds)))
    await Promise.allSettled(burst)
    expect(late.filter((outcome) => outcome.status === 'fulfilled').length).toBeLessThan(READS_PER_READING)
  })

  it('refuses the first call of the turn after a burst whose trust ended, whatever the burst shared', async () => {
    const { breaker, trustEndsBy } = await trustedAfterForcedOpen(20)
    const burst = Array.from({ length: 40 }, () => breaker.execute(succeeds))
    while (Date.now() <= trustEndsBy) {} // no read of the clock after the trust ends, in this turn
    await Promise.allSettled(burst)
    await new Promise((resolve) => setImmediate(resolve))
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.FORCED_OPEN)
  })

  it("stops admitting calls as soon as this environment's own breaker opens, however fresh the view", async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 2, cacheTtlMs: 60_000 })
    await breaker.execute(succeeds)
    // The store takes no failure: this environment counts them itself.
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure'])
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.LOCALLY_OPEN)
  })

  it("resets this environment's own failure count with the next success, as a breaker of its own would", async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 2, cacheTtlMs: 60_000 })
    await breaker.execute(succeeds)
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure'])
    await rejectionOf(breaker.execute(fails))
    await breaker.execute(succeeds) // not consecutive any more
    await rejectionOf(breaker.execute(fails))
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })

  it('holds a concurrency slot per call when maxConcurrent is set, and gives it back on every outcome', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 2, maxQueued: 0, failureThreshold: 10 })
    await breaker.execute(succeeds)
    const first = pendingCall<string>()
    const second = pendingCall<string>()
    const running = [breaker.execute(first.fn), breaker.execute(second.fn)]
    expect(isConcurrencyLimitError(await rejectionOf(breaker.execute(succeeds)))).toBe(true)
    first.resolve('ok')
    second.reject(new ServiceUnavailable())
    await Promise.allSettled(running)
    // Both slots are free again: two calls may run side by side.
    const third = pendingCall<string>()
    const fourth = pendingCall<string>()
    const again = [breaker.execute(third.fn), breaker.execute(fourth.fn)]
    third.resolve('ok')
    fourth.resolve('ok')
    await expect(Promise.all(again)).resolves.toEqual(['ok', 'ok'])
  })

  it('gives the slot back when the function throws before returning a promise', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 1, maxQueued: 0 })
    await breaker.execute(succeeds)
    const thrown = new ServiceUnavailable()
    await expect(
      breaker.execute(() => {
        throw thrown
      }),
    ).rejects.toBe(thrown)
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })

  it('counts a result that isFailureResult calls a failure, and returns the result', async () => {
    const failed = { status: 'degraded' }
    const { breaker, store } = fleet(1, {
      failureThreshold: 2,
      isFailureResult: (result) => result === failed,
    })
    await breaker.execute(succeeds)
    await expect(breaker.execute(async () => failed)).resolves.toBe(failed)
    await expect(breaker.execute(async () => failed)).resolves.toBe(failed)
    expect(store.calls.get('transition')).toBe(1)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('clears the failures the view shows with the next success, then writes nothing', async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 5 })
    await breaker.execute(succeeds)
    await rejectionOf(breaker.execute(fails))
    store.resetCounts()
    for (let i = 0; i < 5; i++) await breaker.execute(succeeds)
    expect(Object.fromEntries(store.calls)).toEqual({ resetFailures: 1 })
  })

  it('hands the fallback a failure on a trusted view', async () => {
    const withFallback = new CircuitBreaker({
      circuitId: 'quotes',
      store: new MemoryStore(),
      fallback: (_error, context) => `fallback (${context.kind})`,
    })
    await withFallback.execute(succeeds)
    await expect(withFallback.execute(fails)).resolves.toBe('fallback (failed)')
  })
})

describe('a call admitted before the circuit has a record', () => {
  it('clears with its success the failure that created the record meanwhile', async () => {
    const { breakers, store } = fleet(2, { failureThreshold: 2 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const slow = pendingCall<string>()
    const running = a.execute(slow.fn) // the store has no record yet
    await rejectionOf(b.execute(fails)) // creates it, with one failure
    await a.getState() // a sees that failure
    slow.resolve('ok')
    await running
    await rejectionOf(b.execute(fails)) // not consecutive with the first
    const record = await store.inner.get('payment-api')
    expect(record?.state).toBe(CircuitState.CLOSED)
  })
})
