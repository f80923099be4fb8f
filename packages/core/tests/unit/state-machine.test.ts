import {
  CircuitOpenError,
  CircuitState,
  isCircuitOpenError,
  RejectionReason,
  TransitionReason,
} from '@fleet-breaker/core'
import { describe, expect, it, jest } from '@jest/globals'
import { fails, fleet, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

async function trip(breaker: { execute: (fn: () => Promise<never>) => Promise<unknown> }, times: number) {
  for (let i = 0; i < times; i++) await rejectionOf(breaker.execute(fails))
}

describe('closed → open', () => {
  it('opens after failureThreshold failures and rejects without calling the function', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 3, resetTimeoutMs: 10_000 })
    await trip(breaker, 2)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
    await trip(breaker, 1)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)

    clock.advance(2_500)
    const downstream = jest.fn(succeeds)
    const error = await rejectionOf(breaker.execute(downstream))
    expect(downstream).not.toHaveBeenCalled()
    expect(error).toBeInstanceOf(CircuitOpenError)
    expect(isCircuitOpenError(error)).toBe(true)
    expect(error).toMatchObject({
      circuitId: 'payment-api',
      state: CircuitState.OPEN,
      reason: RejectionReason.OPEN,
      retryAfterMs: 7_500,
    })
  })

  it('gives the caller its own error back, never a wrapper', async () => {
    const { breaker } = fleet(1)
    const original = new ServiceUnavailable()
    const error = await rejectionOf(breaker.execute(() => Promise.reject(original)))
    expect(error).toBe(original)
  })

  it('clears the failure count on a success, so failures must be consecutive', async () => {
    const { breaker } = fleet(1, { failureThreshold: 3 })
    await trip(breaker, 2)
    await breaker.execute(succeeds)
    await trip(breaker, 2)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
    await trip(breaker, 1)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('stops counting failures older than failureWindowMs', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 3, failureWindowMs: 1_000 })
    await trip(breaker, 2)
    clock.advance(1_000)
    await trip(breaker, 2)
    const snapshot = await breaker.getState()
    expect(snapshot.state).toBe(CircuitState.CLOSED)
    expect(snapshot.failures).toBe(2)
  })

  it('does not count client errors, which reach the caller untouched', async () => {
    const { breaker } = fleet(1, { failureThreshold: 1 })
    const notFound = Object.assign(new Error('no such order'), { statusCode: 404 })
    expect(await rejectionOf(breaker.execute(() => Promise.reject(notFound)))).toBe(notFound)
    expect((await breaker.getState()).failures).toBe(0)
  })

  it('counts a result the result classifier calls a failure, and still returns it', async () => {
    const { breaker } = fleet(1, { failureThreshold: 2 })
    const unavailable = new Response(null, { status: 503 })
    expect(await breaker.execute(async () => unavailable)).toBe(unavailable)
    expect(await breaker.execute(async () => new Response('fine', { status: 200 }))).toBeInstanceOf(Response)
    await breaker.execute(async () => new Response(null, { status: 503 }))
    await breaker.execute(async () => new Response(null, { status: 502 }))
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })
})

describe('open → half-open → closed or open', () => {
  it('sends one probe once the retry time has come, and closes when it succeeds', async () => {
    const { breaker, clock, changes } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 10_000 })
    await trip(breaker, 1)
    clock.advance(9_999)
    expect(isCircuitOpenError(await rejectionOf(breaker.execute(succeeds)))).toBe(true)
    clock.advance(1)
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
    expect(changes.map((change) => [change.from, change.to, change.reason])).toEqual([
      [CircuitState.CLOSED, CircuitState.OPEN, TransitionReason.FAILURE_THRESHOLD],
      [CircuitState.OPEN, CircuitState.HALF_OPEN, TransitionReason.RETRY_DUE],
      [CircuitState.HALF_OPEN, CircuitState.CLOSED, TransitionReason.PROBE_SUCCEEDED],
    ])
  })

  it('rejects other calls while the probe is in flight', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [a, b] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await trip(a, 1)
    clock.advance(1_000)
    let finishProbe: (value: string) => void = () => {}
    const probe = a.execute(() => new Promise<string>((resolve) => (finishProbe = resolve)))
    await new Promise((resolve) => setImmediate(resolve))
    const error = await rejectionOf(b.execute(succeeds))
    expect(error).toMatchObject({ state: CircuitState.HALF_OPEN, reason: RejectionReason.PROBES_BUSY })
    finishProbe('done')
    await expect(probe).resolves.toBe('done')
    // b trusts its view of the busy half-open circuit until the probe's lease would lapse.
    clock.advance((error as CircuitOpenError).retryAfterMs)
    await expect(b.execute(succeeds)).resolves.toBe('ok')
  })

  it('reopens on a failed probe with exponential backoff, capped, and resets it on close', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000, maxResetTimeoutMs: 5_000 })
    await trip(breaker, 1)
    const waits: number[] = []
    for (let i = 0; i < 5; i++) {
      const { retryAfterMs } = await breaker.getState()
      waits.push(retryAfterMs)
      clock.advance(retryAfterMs)
      await rejectionOf(breaker.execute(fails)) // the probe fails
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 5_000, 5_000])
    clock.advance((await breaker.getState()).retryAfterMs)
    await breaker.execute(succeeds)
    await trip(breaker, 1)
    expect((await breaker.getState()).retryAfterMs).toBe(1_000)
  })

  it('needs halfOpenSuccessThreshold successful probes to close', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000, halfOpenSuccessThreshold: 3 })
    await trip(breaker, 1)
    clock.advance(1_000)
    await breaker.execute(succeeds)
    await breaker.execute(succeeds)
    const halfway = await breaker.getState()
    expect(halfway.state).toBe(CircuitState.HALF_OPEN)
    expect(halfway.successes).toBe(2)
    await breaker.execute(succeeds)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('lets another environment probe when the probing environment froze and its lease lapsed', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000, probeLeaseMs: 5_000 })
    const [frozen, healthy] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await trip(frozen, 1)
    clock.advance(1_000)
    const admission = await frozen.admit() // the environment is frozen before it records anything
    expect(admission.admitted && admission.permit.isProbe).toBe(true)
    expect((await rejectionOf(healthy.execute(succeeds))) as CircuitOpenError).toMatchObject({
      reason: RejectionReason.PROBES_BUSY,
      retryAfterMs: 5_000,
    })
    clock.advance(5_000)
    await expect(healthy.execute(succeeds)).resolves.toBe('ok')
    expect((await healthy.getState()).state).toBe(CircuitState.CLOSED)
  })

  it('releases the probe lease without closing when the probe hits a client error', async () => {
    const { breaker, clock } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    await trip(breaker, 1)
    clock.advance(1_000)
    const badRequest = Object.assign(new Error('bad'), { statusCode: 422 })
    await rejectionOf(breaker.execute(() => Promise.reject(badRequest)))
    const snapshot = await breaker.getState()
    expect(snapshot.state).toBe(CircuitState.HALF_OPEN)
    expect(snapshot.probesInFlight).toBe(0)
    await breaker.execute(succeeds)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)
  })
})

describe('the retry time and late results', () => {
  it('never pushes the retry time out because of rejected calls', async () => {
    const { breaker, clock, store } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 10_000 })
    await trip(breaker, 1)
    const { record } = await breaker.getState()
    store.resetCounts()
    for (let i = 0; i < 20; i++) {
      clock.advance(400)
      await rejectionOf(breaker.execute(succeeds))
    }
    expect(store.writes).toBe(0)
    const after = await breaker.getState()
    expect(after.record).toEqual(record)
    expect(after.retryAfterMs).toBe(2_000)
  })

  it('ignores a failure from a call admitted before the circuit opened', async () => {
    const { breakers } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 10_000 })
    const [slow, other] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const admission = await slow.admit()
    if (!admission.admitted) throw new Error('expected admission')
    await trip(other, 1) // opens the circuit
    const { record } = await other.getState()
    await admission.permit.recordError(new ServiceUnavailable())
    expect((await other.getState()).record).toEqual(record)
  })

  it('does not let a late failure from before a close reopen the circuit', async () => {
    const { breakers, clock } = fleet(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [slow, other] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const admission = await slow.admit() // a slow call starts while the circuit is closed
    if (!admission.admitted) throw new Error('expected admission')
    await trip(other, 1) // the circuit opens...
    clock.advance(1_000)
    await other.execute(succeeds) // ...and a probe closes it again
    expect((await other.getState()).state).toBe(CircuitState.CLOSED)
    await admission.permit.recordError(new ServiceUnavailable()) // the slow call finally fails
    const snapshot = await other.getState()
    expect(snapshot.state).toBe(CircuitState.CLOSED)
    expect(snapshot.failures).toBe(0)
  })

  it('keeps concurrent calls on one instance independent', async () => {
    const { breaker } = fleet(1, { failureThreshold: 5, maxConcurrent: 50 })
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => breaker.execute(i % 2 === 0 ? succeeds : fails)),
    )
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(10)
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(10)
  })
})
