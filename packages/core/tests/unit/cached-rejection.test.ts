import {
  type CallRejected,
  CallTimeoutError,
  CircuitBreaker,
  CircuitState,
  type FallbackContext,
  isCircuitOpenError,
  MemoryStore,
  RejectionReason,
  toPortablePermit,
} from '@fleet-breaker/core'
import type { ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { BadRequest, fails, fleet, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

/** Whether `promise` has settled once the microtasks queued so far have run (a cached decision has). */
async function settledAtOnce(promise: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  const outcome = promise.then(
    () => 'resolved' as const,
    () => 'rejected' as const,
  )
  const later = new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))
  return Promise.race([outcome, later])
}

/** A call that holds its concurrency slot until released. */
function slotHolder() {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => (release = resolve))
  return {
    release,
    call: async () => {
      await gate
      return 'slow'
    },
  }
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

  it('is rejected at once with rampUpMs set, right after the circuit opened', async () => {
    const { breakers } = fleet(2, { rampUpMs: 30_000, maxConcurrent: 1, maxQueued: 5, failureThreshold: 1 })
    const [here, elsewhere] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    const holder = slotHolder()
    const running = here.execute(holder.call)
    // Another environment opens the circuit; this one learns it (a change a moment ago, as a close is).
    await rejectionOf(elsewhere.execute(fails))
    expect((await here.getState()).state).toBe(CircuitState.OPEN)

    const call = here.execute(succeeds)
    expect(await settledAtOnce(call)).toBe('rejected')
    const error = await rejectionOf(call)
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.OPEN)
    holder.release()
    await expect(running).resolves.toBe('slow')
  })

  it('is rejected at once as forced open in shadow mode, which never lets a forced open through', async () => {
    const { breaker } = fleet(1, { shadow: true, maxConcurrent: 1, maxQueued: 0 })
    const holder = slotHolder()
    const running = breaker.execute(holder.call)
    await breaker.forceOpen({ reason: 'provider maintenance' })

    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.FORCED_OPEN)
    holder.release()
    await running
  })

  it('is rejected at once when forced open during the ramp-up after a close', async () => {
    const { breaker, clock } = fleet(1, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      rampUpMs: 30_000,
      maxConcurrent: 1,
    })
    // The one slot is taken back later without a decision the ramp could refuse.
    const handedOver = await handOverPermit(breaker)
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    await breaker.execute(succeeds) // the probe closes the circuit: the ramp starts
    clock.advance(1_000)
    await breaker.forceOpen({ reason: 'provider maintenance' })
    const holder = breaker.resumePermit(handedOver)

    const call = breaker.execute(succeeds)
    expect(await settledAtOnce(call)).toBe('rejected')
    const error = await rejectionOf(call)
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.FORCED_OPEN)
    await holder.release()
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

  it("has a stack that starts at execute() and admit(), with the caller's frame next", async () => {
    const { breaker } = fleet(1, { failureThreshold: 1, resetTimeoutMs: 60_000 })
    await rejectionOf(breaker.execute(fails))
    function chargeCard() {
      return breaker.execute(succeeds)
    }
    function admitCharge() {
      return breaker.admit()
    }
    const error = await rejectionOf(chargeCard())
    const admission = await admitCharge()

    for (const stack of [(error as Error).stack, !admission.admitted && admission.error.stack]) {
      const frames = String(stack)
        .split('\n')
        .filter((line) => line.trimStart().startsWith('at '))
      expect(frames[0]).toMatch(/\b(execute|admit)\b/)
      expect(frames[1]).toMatch(/\b(chargeCard|admitCharge)\b/)
    }
  })
})

/** Why a call was turned away, or `ok`. */
async function outcomeOf(call: Promise<unknown>): Promise<string> {
  return call.then(
    () => 'ok',
    (error: unknown) => (isCircuitOpenError(error) ? error.reason : String(error)),
  )
}

/**
 * Takes a permit and hands it over (as a Step Functions task does), so that its one concurrency
 * slot can be taken back later with `resumePermit` without a decision of its own.
 */
async function handOverPermit(breaker: ReturnType<typeof fleet>['breaker']) {
  const admission = await breaker.admit()
  if (!admission.admitted) throw new Error('expected an admission')
  return toPortablePermit(admission.permit)
}

/**
 * A breaker with one concurrency slot whose own local breaker has opened: the store stopped
 * taking writes while it counted two failures. Its slot's permit is handed over first.
 */
async function locallyOpenWithOneSlot() {
  const { breaker, store, clock } = fleet(1, {
    failureThreshold: 2,
    storeOutage: 'fail-open',
    cacheTtlMs: 120_000,
    resetTimeoutMs: 10_000,
    maxConcurrent: 1,
    maxQueued: 3,
  })
  await breaker.execute(succeeds)
  const handedOver = await handOverPermit(breaker)
  store.fault = 'error'
  store.faultOperations = new Set(['addFailure', 'transition', 'resetFailures'])
  await rejectionOf(breaker.execute(fails))
  await rejectionOf(breaker.execute(fails))
  store.fault = 'none'
  return { breaker, clock, handedOver }
}

describe("the local breaker's trial", () => {
  it('goes to a call that waited for a concurrency slot, not to one turned away for want of it', async () => {
    const { breaker, clock, handedOver } = await locallyOpenWithOneSlot()
    const locally = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(locally) && locally.reason).toBe(RejectionReason.LOCALLY_OPEN)

    clock.advance(10_000)
    const holder = breaker.resumePermit(handedOver)
    let trialRan = false
    const trial = breaker.execute(async () => {
      trialRan = true
      return 'trial'
    })
    expect(await settledAtOnce(trial)).toBe('pending')
    await holder.release()
    await expect(trial).resolves.toBe('trial')
    expect(trialRan).toBe(true)
  })

  it('leaves a circuit the cached view rejects rejected at once, though the trial is due and no slot is free', async () => {
    const { breaker, clock, handedOver } = await locallyOpenWithOneSlot()
    await breaker.forceOpen({ reason: 'provider maintenance' })
    clock.advance(10_000)
    const holder = breaker.resumePermit(handedOver)

    const call = breaker.execute(succeeds)
    expect(await settledAtOnce(call)).toBe('rejected')
    expect(await outcomeOf(call)).toBe(RejectionReason.FORCED_OPEN)
    await holder.release()
  })

  it('is not spent by a call that finds the shared count at the threshold: that call opens the circuit', async () => {
    const { breaker, store, clock } = fleet(1, {
      failureThreshold: 1,
      failureWindowMs: 600_000,
      storeOutage: 'fail-open',
      cacheTtlMs: 120_000,
      resetTimeoutMs: 10_000,
    })
    await breaker.execute(succeeds)
    // The failure is counted, but the opening write fails: this environment opens on its own.
    store.fault = 'error'
    store.faultOperations = new Set(['transition'])
    await rejectionOf(breaker.execute(fails))
    store.fault = 'none'
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)

    clock.advance(10_000)
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.OPEN)
    expect((await breaker.getState()).state).toBe(CircuitState.OPEN)
  })

  it('is not spent by a call the ramp after a close turns away', async () => {
    const { breaker, store, clock } = fleet(1, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      rampUpMs: 10_000,
      storeOutage: 'fail-open',
      cacheTtlMs: 120_000,
    })
    await rejectionOf(breaker.execute(fails))
    clock.advance(1_000)
    await breaker.execute(succeeds) // the probe closes the circuit: the ramp starts
    clock.advance(5_000)
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure', 'transition', 'resetFailures'])
    for (let i = 0; i < 6; i++) await outcomeOf(breaker.execute(fails))
    store.fault = 'none'
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)

    clock.advance(1_000)
    const outcomes: string[] = []
    for (let i = 0; i < 3; i++) outcomes.push(await outcomeOf(breaker.execute(succeeds)))
    // Half-way through the ramp, every other call goes ahead: the first to go ahead is the trial.
    expect(outcomes).toEqual([RejectionReason.RAMPING, 'ok', RejectionReason.RAMPING])
  })

  /** A breaker that falls back on its local breaker, which opens at the first failure the store does not take. */
  const opensLocallyAtOnce = {
    failureThreshold: 1,
    storeOutage: 'fail-open',
    cacheTtlMs: 120_000,
    resetTimeoutMs: 10_000,
  } as const

  /** A breaker whose local breaker opened (the store took no write) and whose trial is now due. */
  async function trialDue() {
    const { breaker, store, clock } = fleet(1, opensLocallyAtOnce)
    await breaker.execute(succeeds)
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure', 'transition', 'resetFailures'])
    await rejectionOf(breaker.execute(fails))
    store.fault = 'none'
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
    clock.advance(10_000)
    return { breaker, clock }
  }

  for (const [what, spendTrial] of [
    [
      'a call admitted with no time left to make it',
      async (breaker: CircuitBreaker, clock: ManualClock) => {
        let made = false
        const call = breaker.execute(
          async () => {
            made = true
          },
          { deadline: clock.now() },
        )
        expect(await rejectionOf(call)).toBeInstanceOf(CallTimeoutError)
        expect(made).toBe(false)
      },
    ],
    [
      'an admission released without a call',
      async (breaker: CircuitBreaker) => {
        const admission = await breaker.admit()
        if (!admission.admitted) throw new Error('expected the trial')
        await admission.permit.release()
      },
    ],
    [
      'a call answered with an error that does not count (a 400)',
      async (breaker: CircuitBreaker) => {
        expect(await rejectionOf(breaker.execute(() => Promise.reject(new BadRequest())))).toBeInstanceOf(BadRequest)
      },
    ],
  ] as const) {
    it(`is not spent by ${what}: the next call gets it`, async () => {
      const { breaker, clock } = await trialDue()
      await spendTrial(breaker, clock)
      expect(await outcomeOf(breaker.execute(succeeds))).toBe('ok')
    })
  }

  it('is not given back once a later trial was given: that one is still running', async () => {
    const { breaker, clock } = await trialDue()
    const first = await breaker.admit()
    if (!first.admitted) throw new Error('expected the trial')
    clock.advance(10_000)
    const second = await breaker.admit()
    if (!second.admitted) throw new Error('expected the next trial, the first never having reported')
    await first.permit.release()
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
    await second.permit.recordSuccess()
    expect(await outcomeOf(breaker.execute(succeeds))).toBe('ok')
  })

  it('stays with a call its caller gave up on: the call may still be running', async () => {
    const { breaker } = await trialDue()
    const caller = new AbortController()
    // A downstream that does not stop when its signal aborts.
    const call = breaker.execute(() => new Promise(() => {}), { signal: caller.signal })
    caller.abort(new Error('the client went away'))
    await rejectionOf(call)
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
  })

  it('stays with a trial whose permit records an error after its signal aborted', async () => {
    const { breaker } = await trialDue()
    const request = new AbortController()
    const admission = await breaker.admit({ signal: request.signal })
    if (!admission.admitted) throw new Error('expected the trial')
    request.abort()
    await admission.permit.recordError(new ServiceUnavailable())
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
  })

  it('is not given back after a failure reopened the local breaker, even in the same millisecond', async () => {
    const { breaker, store, clock } = fleet(1, opensLocallyAtOnce)
    await breaker.execute(succeeds)
    const early = await breaker.admit()
    if (!early.admitted) throw new Error('expected an admission')
    store.fault = 'error'
    store.faultOperations = new Set(['addFailure', 'transition', 'resetFailures'])
    await rejectionOf(breaker.execute(fails))
    clock.advance(10_000)
    const trial = await breaker.admit()
    if (!trial.admitted) throw new Error('expected the trial')
    // A failure counted here in the trial's millisecond reopens it until the very time the trial did.
    await early.permit.recordFailure()
    await trial.permit.release()
    expect(await outcomeOf(breaker.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
  })

  it('stays with its call when the opening it contends for is refused', async () => {
    const { breakers, store, clock } = fleet(2, {
      failureThreshold: 2,
      failureWindowMs: 600_000,
      storeOutage: 'fail-open',
      cacheTtlMs: 120_000,
      resetTimeoutMs: 10_000,
    })
    const [here, elsewhere] = breakers as [(typeof breakers)[0], (typeof breakers)[0]]
    await here.execute(succeeds)
    await elsewhere.execute(succeeds)
    await rejectionOf(elsewhere.execute(fails))
    // This environment counts the failure that reaches the threshold, but its opening write fails.
    store.fault = 'error'
    store.faultOperations = new Set(['transition'])
    await rejectionOf(here.execute(fails))
    store.fault = 'none'
    expect(await outcomeOf(here.execute(succeeds))).toBe(RejectionReason.LOCALLY_OPEN)
    // Meanwhile a success elsewhere clears the count: the opening this environment tries is refused.
    await elsewhere.execute(succeeds)

    clock.advance(10_000)
    expect(await outcomeOf(here.execute(succeeds))).toBe('ok')
    expect((await here.getState()).state).toBe(CircuitState.CLOSED)
  })
})
