import {
  type CallRejected,
  CircuitBreaker,
  CircuitState,
  type FallbackContext,
  isCircuitOpenError,
  MemoryStore,
  RejectionReason,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import { fails, fleet, rejectionOf, succeeds } from './support.js'

/** Whether `promise` has settled once the microtasks queued so far have run (a cached decision has). */
async function settledAtOnce(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  const outcome = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  )
  const later = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))
  return Promise.race([outcome, later])
}

function observed() {
  const rejections: CallRejected[] = []
  return { rejections, observers: [{ onCallRejected: (event: CallRejected) => rejections.push(event) }] }
}

describe('a call the cached view rejects', () => {
  it('is rejected at once, without waiting for a concurrency slot held by a running call', async () => {
    const { breaker } = fleet(1, { maxConcurrent: 1, maxQueued: 5, failureThreshold: 5 })
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const running = breaker.execute(async () => {
      await gate
      return 'slow'
    })
    await breaker.forceOpen({ reason: 'provider maintenance' })

    const call = breaker.execute(succeeds)
    expect(await settledAtOnce(call)).toBe('rejected')
    const error = await rejectionOf(call)
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.FORCED_OPEN)

    release()
    await expect(running).resolves.toBe('slow')
  })

  it('is told to the observers once per call, as a rejection', async () => {
    const { rejections, observers } = observed()
    const { breaker, store } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 60_000, observers })
    await rejectionOf(breaker.execute(fails))
    store.resetCounts()

    for (let i = 0; i < 3; i++) expect(isCircuitOpenError(await rejectionOf(breaker.execute(succeeds)))).toBe(true)
    const admission = await breaker.admit()
    expect(admission.admitted).toBe(false)

    expect(rejections.map(({ reason, wouldReject }) => [reason, wouldReject])).toEqual([
      ['open', false],
      ['open', false],
      ['open', false],
      ['open', false],
    ])
    // Decided from the view the failing call's write returned: the store was not asked again.
    expect(store.reads + store.writes).toBe(0)
  })

  it('is still let through in shadow mode, and reported once as one the breaker would reject', async () => {
    const { rejections, observers } = observed()
    const { breaker, clock } = fleet(1, { shadow: true, failureThreshold: 1, resetTimeoutMs: 60_000, observers })
    await rejectionOf(breaker.execute(fails))
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
    clock.advance(10)

    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    expect(rejections.map(({ reason, wouldReject }) => [reason, wouldReject])).toEqual([['open', true]])
  })

  it('goes to the fallback as a rejection', async () => {
    const kinds: string[] = []
    const breaker = new CircuitBreaker({
      circuitId: 'quotes',
      store: new MemoryStore(),
      failureThreshold: 1,
      resetTimeoutMs: 60_000,
      fallback: (error: unknown, context: FallbackContext) => {
        kinds.push(`${context.kind}:${isCircuitOpenError(error) ? error.reason : 'other'}`)
        return 'cached'
      },
    })
    await expect(breaker.execute(fails)).resolves.toBe('cached')
    await expect(breaker.execute(succeeds)).resolves.toBe('cached')
    expect(kinds).toEqual(['failed:other', 'rejected:open'])
  })
})
