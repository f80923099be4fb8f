import { randomUUID } from 'node:crypto'
import { CircuitBreaker, CircuitState, isCircuitOpenError } from '@fleet-breaker/core'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { silentLogger } from '../../../../test-support/logger.js'
import { environmentStores } from '../../../storage/tests/support/environment-stores.js'
import { fails, fleet, rejectionOf, ServiceUnavailable, succeeds } from '../unit/support.js'

// The fleet scenarios talk to in-process servers; on a loaded machine a request can take seconds.
jest.setTimeout(30_000)

/** A call the test settles when it chooses, as a slow downstream call of one invocation does. */
function pendingCall<T>() {
  let settle!: { resolve: (value: T) => void; reject: (error: unknown) => void }
  const outcome = new Promise<T>((resolve, reject) => {
    settle = { resolve, reject }
  })
  return { fn: () => outcome, ...settle }
}

/**
 * Makes the circuit's record exist with no failure counted (a failure, cleared by a success), so
 * later calls run under the record's own incarnation and this environment trusts its closed view.
 */
async function existingRecordWithoutFailures(breaker: CircuitBreaker): Promise<void> {
  await rejectionOf(breaker.execute(fails))
  await breaker.execute(succeeds)
}

// Calls without per-call options on a trusted closed view run without a decision of their own. A
// call admitted that way may still be running when the view changes; its outcome must then be
// recorded as the view at the time it settles requires, as for any other call.
describe('a call admitted while the view showed no failures, settling after a failure was counted', () => {
  it('clears the failure counted in the store: failures with a success between them are not consecutive', async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 2 })
    await existingRecordWithoutFailures(breaker)
    const slow = pendingCall<string>()
    const running = breaker.execute(slow.fn)
    await rejectionOf(breaker.execute(fails)) // failures: 1, and this environment's view shows it
    slow.resolve('ok')
    await expect(running).resolves.toBe('ok') // a success after that failure
    await rejectionOf(breaker.execute(fails))
    const record = await store.inner.get('payment-api')
    expect(record?.state).toBe(CircuitState.CLOSED)
    expect(record?.state === CircuitState.CLOSED && record.failures).toBe(1)
  })

  it("resets this environment's own failure count while the store takes no failures", async () => {
    const { breaker, store } = fleet(1, { failureThreshold: 2, cacheTtlMs: 60_000 })
    await existingRecordWithoutFailures(breaker)
    const slow = pendingCall<string>()
    const running = breaker.execute(slow.fn)
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure'])
    await rejectionOf(breaker.execute(fails)) // counted by this environment's own breaker
    slow.resolve('ok')
    await expect(running).resolves.toBe('ok') // a success after that failure
    await rejectionOf(breaker.execute(fails))
    // Not two failures in a row: this environment's own breaker stays closed.
    const after = await breaker.execute(succeeds).catch((error: unknown) => error)
    expect(isCircuitOpenError(after) ? after.reason : after).toBe('ok')
  })
})

describe('a forced close that lapses while the store keeps the same record', () => {
  it('counts failures again once the override has lapsed, though the view is the same record', async () => {
    const { breaker, clock, store } = fleet(1, { failureThreshold: 1, cacheTtlMs: 5_000 })
    await breaker.forceClose({ durationMs: 1_000 })
    await breaker.execute(succeeds) // runs uncounted under the forced close
    clock.advance(1_500) // the override lapsed; the store answers the same record as before
    await breaker.execute(succeeds) // reads the store: the circuit is closed on its own again
    await rejectionOf(breaker.execute(fails))
    const record = await store.inner.get('payment-api')
    expect(record?.state).toBe(CircuitState.OPEN)
  })
})

describe('calls on a trusted closed view with a concurrency limit and a queue', () => {
  it('admits every queued call as slots free up, whatever way the calls before it ended', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 3, maxQueued: 30, failureThreshold: 1_000 })
    await breaker.execute(succeeds)
    const slow = Array.from({ length: 3 }, () => pendingCall<string>())
    const holding = slow.map((call) => breaker.execute(call.fn))
    // Every slot is taken: these wait in the queue, then end in each way a call can end.
    const ways: Array<() => unknown> = [
      succeeds,
      fails,
      () => 'returned at once',
      () => {
        throw new ServiceUnavailable()
      },
      // biome-ignore lint/suspicious/noThenProperty: the call returns another promise library's thenable
      () => ({ then: (resolve: (value: string) => void) => resolve('foreign thenable') }),
    ]
    const queued = Array.from({ length: 25 }, (_, index) => breaker.execute(ways[index % ways.length] as () => unknown))
    for (const call of slow) call.resolve('ok')
    const outcomes = await Promise.allSettled([...holding, ...queued])
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(3 + 15)
    // No slot was lost or given back twice: exactly three calls run side by side again.
    const release = pendingCall<string>()
    let started = 0
    const call = () => {
      started++
      return release.fn()
    }
    const running = Array.from({ length: 4 }, () => breaker.execute(call))
    await new Promise((resolve) => setImmediate(resolve))
    expect(started).toBe(3)
    release.resolve('ok')
    await expect(Promise.all(running)).resolves.toEqual(['ok', 'ok', 'ok', 'ok'])
    expect(started).toBe(4)
  })
})

const backends = environmentStores('hot-lane-review', beforeAll, afterAll)

describe.each(backends)('environments sharing $name', (backend) => {
  it("clears another environment's failure it has seen with a success that settles after it", async () => {
    const circuitId = `hot-lane-${randomUUID()}`
    const environment = () =>
      new CircuitBreaker({
        circuitId,
        store: backend.environmentStore(),
        logger: silentLogger,
        storeTimeoutMs: 10_000,
        failureThreshold: 2,
        cacheTtlMs: 60_000,
      })
    const [a, b] = [environment(), environment()]
    await existingRecordWithoutFailures(a)
    const slow = pendingCall<string>()
    const running = a.execute(slow.fn) // admitted while a's view shows no failures
    await rejectionOf(b.execute(fails)) // failures: 1
    expect((await a.getState()).failures).toBe(1) // a has seen it
    slow.resolve('ok')
    await expect(running).resolves.toBe('ok') // a success after that failure
    await rejectionOf(b.execute(fails))
    const state = await a.getState()
    expect({ state: state.state, failures: state.failures }).toEqual({ state: CircuitState.CLOSED, failures: 1 })
  })
})
