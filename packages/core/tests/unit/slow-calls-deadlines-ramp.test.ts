import {
  CallTimeoutError,
  CircuitBreaker,
  CircuitState,
  isCircuitOpenError,
  MemoryStore,
  RejectionReason,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { fails, recordingLogger, rejectionOf, succeeds } from './support.js'

function breakerOn(clock: ManualClock, options: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  return new CircuitBreaker({
    circuitId: 'payment-api',
    store: new MemoryStore(),
    now: clock.now,
    logger: recordingLogger(),
    ...options,
  })
}

const hangsUntilAborted = (signal: AbortSignal) =>
  new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true })
  })

describe('slow calls', () => {
  it('counts a call that succeeds slower than slowCallDurationMs as a failure, and still returns its value', async () => {
    const clock = new ManualClock()
    const breaker = breakerOn(clock, { slowCallDurationMs: 2_000, failureThreshold: 2 })
    const slow = async () => {
      clock.advance(2_000)
      return 'late but fine'
    }
    await expect(breaker.execute(slow)).resolves.toBe('late but fine')
    expect((await breaker.getState()).failures).toBe(1)
    await expect(breaker.execute(slow)).resolves.toBe('late but fine')
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('counts a fast success as a success', async () => {
    const clock = new ManualClock()
    const breaker = breakerOn(clock, { slowCallDurationMs: 2_000 })
    await rejectionOf(breaker.execute(fails))
    await breaker.execute(async () => {
      clock.advance(1_999)
      return 'quick'
    })
    expect((await breaker.getState()).failures).toBe(0)
  })

  it('times a permit from its admission to its record', async () => {
    const clock = new ManualClock()
    const breaker = breakerOn(clock, { slowCallDurationMs: 2_000 })
    const admission = await breaker.admit()
    if (!admission.admitted) throw new Error('expected admission')
    clock.advance(2_500)
    expect(await admission.permit.recordResult({ statusCode: 200 })).toBe('failure')
  })
})

describe('Lambda deadlines', () => {
  it('aborts a call still running deadlineMarginMs before the invocation ends, and counts it', async () => {
    const breaker = breakerOn(new ManualClock(), { deadlineMarginMs: 500, failureThreshold: 1 })
    const lambdaContext = { getRemainingTimeInMillis: () => 550 } // 50 ms of budget
    const error = await rejectionOf(breaker.execute(hangsUntilAborted, { lambdaContext }))
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('gives a probe’s lease back before the invocation ends when the probe hangs', async () => {
    const clock = new ManualClock()
    const breaker = breakerOn(clock, { deadlineMarginMs: 500, failureThreshold: 1, resetTimeoutMs: 1_000 })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    const deadline = clock.now() + 550
    await rejectionOf(breaker.execute(hangsUntilAborted, { deadline }))
    // The probe failed and reopened the circuit: no lease waits out probeLeaseMs.
    const snapshot = await breaker.getState()
    expect(snapshot).toMatchObject({ state: CircuitState.OPEN, probesInFlight: 0, openCount: 2 })
  })

  it('neither calls nor counts when the invocation has no time left for the call', async () => {
    const breaker = breakerOn(new ManualClock(), { deadlineMarginMs: 500, failureThreshold: 1 })
    let called = false
    const error = await rejectionOf(
      breaker.execute(
        async () => {
          called = true
          return 'ok'
        },
        { lambdaContext: { getRemainingTimeInMillis: () => 400 } },
      ),
    )
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect(called).toBe(false)
    expect((await breaker.getState()).failures).toBe(0)
  })

  it('keeps callTimeoutMs when it comes before the invocation’s deadline', async () => {
    const breaker = breakerOn(new ManualClock(), { callTimeoutMs: 20, deadlineMarginMs: 500 })
    const error = await rejectionOf(
      breaker.execute(hangsUntilAborted, { lambdaContext: { getRemainingTimeInMillis: () => 900_000 } }),
    )
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect((error as CallTimeoutError).timeoutMs).toBe(20)
  })
})

describe('the ramp after closing', () => {
  async function closedAfterOutage(rampUpMs: number) {
    const clock = new ManualClock()
    const store = new MemoryStore()
    const options = { store, now: clock.now, failureThreshold: 1, resetTimeoutMs: 1_000, rampUpMs }
    const prober = breakerOn(clock, options)
    const environment = breakerOn(clock, options)
    await rejectionOf(prober.execute(fails))
    clock.advance(1_000)
    await prober.execute(succeeds) // the probe closes the circuit
    return { clock, environment }
  }

  async function admittedOf(breaker: CircuitBreaker<unknown>, calls: number) {
    let admitted = 0
    for (let call = 0; call < calls; call++) {
      try {
        await breaker.execute(succeeds)
        admitted++
      } catch (error) {
        if (!isCircuitOpenError(error) || error.reason !== RejectionReason.RAMPING) throw error
      }
    }
    return admitted
  }

  it('admits a share of calls that rises with the time since the close', async () => {
    const { clock, environment } = await closedAfterOutage(10_000)
    clock.advance(1_000) // 10 % of the ramp
    expect(await admittedOf(environment, 100)).toBe(10)
    clock.advance(4_000) // 50 %
    expect(await admittedOf(environment, 100)).toBe(50)
    clock.advance(5_000) // the ramp is over
    expect(await admittedOf(environment, 100)).toBe(100)
  })

  it('rejects with reason ramping, in the closed state, and a short retry', async () => {
    const { clock, environment } = await closedAfterOutage(10_000)
    clock.advance(1)
    const error = await rejectionOf(environment.execute(succeeds))
    expect(error).toMatchObject({ reason: RejectionReason.RAMPING, state: CircuitState.CLOSED })
    expect((error as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1_000)
  })

  it('does not ramp a circuit that never opened', async () => {
    const clock = new ManualClock()
    const breaker = breakerOn(clock, { rampUpMs: 10_000 })
    expect(await admittedOf(breaker, 20)).toBe(20)
  })
})
