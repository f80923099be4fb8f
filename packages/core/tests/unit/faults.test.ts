import {
  CallTimeoutError,
  CircuitBreaker,
  type CircuitBreakerOptions,
  CircuitState,
  isCircuitOpenError,
  isConcurrencyLimitError,
  isInvalidConfigurationError,
  MemoryStore,
  RejectionReason,
  type StateChange,
  TransitionReason,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import { fails, recordingLogger, rejectionOf, ServiceUnavailable, succeeds } from './support.js'

type Options = Omit<CircuitBreakerOptions<never>, 'store' | 'now'>

/**
 * `size` environments sharing one MemoryStore, each through its own InstrumentedStore (its own
 * connection, with faults of its own), on one manual clock.
 */
function environments(size: number, options: Options = {}) {
  const clock = new ManualClock()
  const shared = new MemoryStore()
  const logger = recordingLogger()
  const changes: StateChange[] = []
  const members = Array.from({ length: size }, () => {
    const store = new InstrumentedStore(shared)
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', logger, ...options, store, now: clock.now })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return { store, breaker }
  })
  const reader = new CircuitBreaker({ circuitId: 'payment-api', logger, store: shared, now: clock.now })
  const local = () => changes.filter((change) => change.origin === 'local')
  return { clock, shared, logger, changes, local, members, reader }
}

function first<T>(items: readonly T[]): T {
  const [item] = items
  if (item === undefined) throw new Error('expected at least one item')
  return item
}

describe('a write applied by the store whose answer is lost or repeated', () => {
  it('counts a failure retried by the client once', async () => {
    const { members, reader } = environments(1, { failureThreshold: 10 })
    const { store, breaker } = first(members)
    store.fault = 'retry'
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    expect((await reader.getState()).failures).toBe(2)
  })

  it('reports the opening as local exactly once when the opener’s answer was retried', async () => {
    const { members, local, reader } = environments(3, { failureThreshold: 1 })
    const opener = first(members)
    opener.store.fault = 'retry'
    opener.store.faultOperations = new Set(['transition'])
    await rejectionOf(opener.breaker.execute(fails))
    expect((await reader.getState()).state).toBe(CircuitState.OPEN)
    expect(local()).toHaveLength(1)
    expect(local()[0]).toMatchObject({ from: CircuitState.CLOSED, to: CircuitState.OPEN })
  })

  it('reports the opening as local once its answer was lost, from the next answer that shows it', async () => {
    const { members, local, changes } = environments(2, { failureThreshold: 1, cacheTtlMs: 0 })
    const [opener, other] = members as [(typeof members)[0], (typeof members)[0]]
    await other.breaker.execute(succeeds) // knows the circuit closed
    opener.store.fault = 'lose-answer'
    opener.store.faultOperations = new Set(['transition'])
    await rejectionOf(opener.breaker.execute(fails))
    expect(local()).toHaveLength(0) // nothing known yet
    opener.store.fault = 'none'
    expect(isCircuitOpenError(await rejectionOf(opener.breaker.execute(succeeds)))).toBe(true)
    expect(isCircuitOpenError(await rejectionOf(other.breaker.execute(succeeds)))).toBe(true)
    expect(local()).toHaveLength(1)
    expect(local()[0]).toMatchObject({ to: CircuitState.OPEN, reason: TransitionReason.FAILURE_THRESHOLD })
    // The other environment only observed it.
    expect(changes.filter((change) => change.origin === 'observed')).toHaveLength(1)
  })

  it('reports the opening as local even when other environments moved the circuit on before the opener heard', async () => {
    const { members, local, changes, clock } = environments(2, {
      failureThreshold: 1,
      cacheTtlMs: 0,
      resetTimeoutMs: 1_000,
    })
    const [opener, other] = members as [(typeof members)[0], (typeof members)[0]]
    await opener.breaker.execute(succeeds) // knows the circuit closed
    opener.store.fault = 'lose-answer'
    opener.store.faultOperations = new Set(['transition'])
    await rejectionOf(opener.breaker.execute(fails))
    opener.store.fault = 'none'
    // The other environment sees it open, probes once the retry is due, and the probe closes it.
    clock.advance(1_000)
    await expect(other.breaker.execute(succeeds)).resolves.toBe('ok')
    expect(local().map((change) => `${change.from}->${change.to}`)).toEqual(['OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED'])
    // The opener hears only now, from a record two generations on: it reports its opening, once,
    // with the generation it started, then what it observed since.
    await expect(opener.breaker.execute(succeeds)).resolves.toBe('ok')
    const opening = local().find((change) => change.to === CircuitState.OPEN)
    expect(opening).toMatchObject({
      from: CircuitState.CLOSED,
      reason: TransitionReason.FAILURE_THRESHOLD,
      generation: 1,
    })
    expect(
      local()
        .map((change) => change.generation)
        .sort(),
    ).toEqual([1, 2, 3])
    const heardLate = changes.slice(-2)
    expect(heardLate.map((change) => `${change.origin}:${change.from}->${change.to}`)).toEqual([
      'local:CLOSED->OPEN',
      'observed:OPEN->CLOSED',
    ])
    expect(heardLate[1]?.reason).toBe(TransitionReason.PROBE_SUCCEEDED)
    await expect(opener.breaker.execute(succeeds)).resolves.toBe('ok')
    expect(local()).toHaveLength(3)
  })

  it('lets the environment whose half-open entry was applied make the probe, leaving no lease behind', async () => {
    const { members, clock, reader, local } = environments(2, { failureThreshold: 1, resetTimeoutMs: 1_000 })
    const [prober, other] = members as [(typeof members)[0], (typeof members)[0]]
    await rejectionOf(prober.breaker.execute(fails))
    clock.advance(1_000)
    prober.store.fault = 'lose-answer'
    prober.store.faultOperations = new Set(['transition'])
    const probeResult = prober.breaker.execute(async () => {
      prober.store.fault = 'none'
      return 'recovered'
    })
    await expect(probeResult).resolves.toBe('recovered')
    // The probe's success closed the circuit: no lease waits out probeLeaseMs.
    expect((await reader.getState()).state).toBe(CircuitState.CLOSED)
    await expect(other.breaker.execute(succeeds)).resolves.toBe('ok')
    const transitions = local().map((change) => `${change.from}->${change.to}`)
    expect(transitions).toEqual(['CLOSED->OPEN', 'OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED'])
  })

  it('gives a probe lease back when its acquisition’s answer came after the deadline', async () => {
    const { members, clock, reader } = environments(2, {
      failureThreshold: 1,
      resetTimeoutMs: 1_000,
      halfOpenSuccessThreshold: 2,
      halfOpenMaxProbes: 1,
      storeTimeoutMs: 5,
      probeLeaseMs: 60_000,
    })
    const [prober, other] = members as [(typeof members)[0], (typeof members)[0]]
    await rejectionOf(prober.breaker.execute(fails))
    clock.advance(1_000)
    prober.store.fault = 'late-answer'
    prober.store.faultOperations = new Set(['transition'])
    const outcome = await prober.breaker.execute(async () => {
      prober.store.fault = 'none'
      return 'probed'
    })
    expect(outcome).toBe('probed')
    // The lease was given back with the first success: the next probe is not refused for 60 s.
    const snapshot = await reader.getState()
    expect(snapshot).toMatchObject({ state: CircuitState.HALF_OPEN, successes: 1, probesInFlight: 0 })
    await expect(other.breaker.execute(succeeds)).resolves.toBe('ok')
    expect((await reader.getState()).state).toBe(CircuitState.CLOSED)
  })
})

describe('a record the store lost', () => {
  it('keeps counting and reporting transitions after the record is created again', async () => {
    const { members, shared, local, reader } = environments(2, { failureThreshold: 2, cacheTtlMs: 0 })
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]]
    // Several generations pass, then the record is lost.
    for (let round = 0; round < 3; round++) {
      await reader.forceOpen()
      await reader.clearOverride()
    }
    await a.breaker.execute(succeeds)
    expect((await reader.getState()).record.generation).toBe(6)
    await shared.clearMany(['payment-api'])
    a.store.resetCounts()
    await a.breaker.execute(succeeds)
    expect(a.store.writes).toBe(0) // a healthy circuit still costs no write
    await rejectionOf(a.breaker.execute(fails))
    await rejectionOf(b.breaker.execute(fails))
    expect((await reader.getState()).state).toBe(CircuitState.OPEN)
    const opened = local().filter((change) => change.to === CircuitState.OPEN)
    expect(opened).toHaveLength(1)
  })

  it('counts a failure admitted before the loss against the new record', async () => {
    const { members, shared, reader } = environments(1, { failureThreshold: 5 })
    const { breaker } = first(members)
    await reader.forceOpen()
    await reader.clearOverride()
    await breaker.execute(succeeds) // learns generation 2
    const admission = await breaker.admit()
    if (!admission.admitted) throw new Error('expected admission')
    await shared.clearMany(['payment-api'])
    await admission.permit.recordError(new ServiceUnavailable())
    expect((await reader.getState()).failures).toBe(1)
  })
})

describe('answers arriving out of order', () => {
  it('does not let a late read replace the view of a circuit this environment just opened', async () => {
    const { members, changes } = environments(1, { failureThreshold: 1 })
    const { store, breaker } = first(members)
    const admission = await breaker.admit() // a call starts while the circuit is closed
    if (!admission.admitted) throw new Error('expected admission')
    store.holdAnswers(new Set(['get']))
    const staleRead = breaker.getState() // issued first, answered last
    await admission.permit.recordError(new ServiceUnavailable()) // opens the circuit meanwhile
    store.releaseAnswers()
    await staleRead
    store.resetCounts()
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error)).toBe(true)
    expect(changes.map((change) => `${change.from}->${change.to}`)).toEqual(['CLOSED->OPEN'])
  })

  it('reads once for many concurrent invocations whose view went stale', async () => {
    const { members, clock } = environments(1, { cacheTtlMs: 1_000 })
    const { store, breaker } = first(members)
    await breaker.execute(succeeds)
    clock.advance(1_000)
    store.resetCounts()
    await Promise.all(Array.from({ length: 30 }, () => breaker.execute(succeeds)))
    expect(Object.fromEntries(store.calls)).toEqual({ get: 1 })
  })
})

describe('an operator’s change', () => {
  it('reaches an environment holding an automatic OPEN within cacheTtlMs', async () => {
    const { members, clock, reader } = environments(1, {
      failureThreshold: 1,
      resetTimeoutMs: 300_000,
      cacheTtlMs: 5_000,
    })
    const { breaker } = first(members)
    await rejectionOf(breaker.execute(fails))
    await reader.forceClose({ reason: 'false alarm' })
    clock.advance(5_000)
    await expect(breaker.execute(succeeds)).resolves.toBe('ok')
  })
})

describe('a slow or failing store', () => {
  it('never lets more calls through than a breaker of the environment’s own when failure writes are late', async () => {
    const { members } = environments(1, { failureThreshold: 5, storeTimeoutMs: 5 })
    const { store, breaker } = first(members)
    store.fault = 'late-answer'
    store.faultOperations = new Set(['addFailure', 'transition'])
    let downstreamCalls = 0
    for (let call = 0; call < 100; call++) {
      await rejectionOf(
        breaker.execute(async () => {
          downstreamCalls++
          throw new ServiceUnavailable()
        }),
      )
    }
    expect(downstreamCalls).toBe(5)
  })

  it('opens the circuit for the fleet when the opener lost every answer after counting the last failure', async () => {
    const { members, reader } = environments(2, { failureThreshold: 2, cacheTtlMs: 0 })
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]]
    await rejectionOf(a.breaker.execute(fails))
    b.store.fault = 'lose-answer'
    b.store.faultOperations = new Set(['addFailure'])
    await rejectionOf(b.breaker.execute(fails)) // counted, but b never hears of it
    const error = await rejectionOf(a.breaker.execute(succeeds))
    expect(isCircuitOpenError(error)).toBe(true)
    expect((await reader.getState()).state).toBe(CircuitState.OPEN)
  })

  it('keeps reading after a failed write (one late write does not stop reads)', async () => {
    const { members, reader } = environments(2, { failureThreshold: 2, storeTimeoutMs: 5, cacheTtlMs: 0 })
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]]
    a.store.fault = 'late-answer'
    a.store.faultOperations = new Set(['addFailure'])
    await rejectionOf(a.breaker.execute(fails))
    await rejectionOf(b.breaker.execute(fails)) // b opens the circuit
    expect((await reader.getState()).state).toBe(CircuitState.OPEN)
    a.store.resetCounts()
    expect(isCircuitOpenError(await rejectionOf(a.breaker.execute(succeeds)))).toBe(true)
    expect(a.store.calls.get('get')).toBe(1)
  })

  it('rejects locally with reason locally-open once its own failures reach the threshold', async () => {
    const { members } = environments(1, { failureThreshold: 2 })
    const { store, breaker } = first(members)
    store.fault = 'error'
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.LOCALLY_OPEN)
  })
})

describe('an environment that opened its own breaker while the store was unreachable', () => {
  type Fleet = ReturnType<typeof environments>
  type Member = Fleet['members'][number]

  /**
   * Two environments, the circuit open, and b's own breaker open: b's call failed while b could not
   * reach the store. b's view still shows the circuit open.
   */
  async function openedLocally() {
    const fleet = environments(2, { failureThreshold: 1, resetTimeoutMs: 5_000, cacheTtlMs: 500 })
    const [a, b] = fleet.members as [Member, Member]
    const inFlight = await b.breaker.admit()
    if (!inFlight.admitted) throw new Error('expected the call to be admitted')
    await rejectionOf(a.breaker.execute(fails))
    fleet.clock.advance(600)
    expect(isCircuitOpenError(await rejectionOf(b.breaker.execute(succeeds)))).toBe(true)
    b.store.fault = 'error'
    await inFlight.permit.recordError(new ServiceUnavailable())
    b.store.fault = 'none'
    return { ...fleet, b }
  }

  it.each([
    ['a refused probe write', async () => {}],
    ['getState()', async (b: Member) => void (await b.breaker.getState())],
    ['a health check (admitProbe)', async (b: Member) => void (await b.breaker.admitProbe())],
  ])('gives way to the shared state an operator reset, learned from %s', async (_how, learn) => {
    const { b, reader, clock } = await openedLocally()
    await reader.reset()
    clock.advance(10_000)
    await learn(b)

    const outcomes = await Promise.allSettled([b.breaker.execute(succeeds), b.breaker.execute(succeeds)])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled'])
  })

  it('gives way to the shared state once it resets the circuit itself', async () => {
    const { b } = await openedLocally()
    await b.breaker.reset()

    const outcomes = await Promise.allSettled([b.breaker.execute(succeeds), b.breaker.execute(succeeds)])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled'])
  })

  it('stays open while the store answers with the circuit it opened over', async () => {
    const options = { failureThreshold: 2, cacheTtlMs: 500, resetTimeoutMs: 30_000 }
    const { members, clock } = environments(1, options)
    const { store, breaker } = first(members)
    await breaker.execute(succeeds)
    store.fault = 'error'
    await rejectionOf(breaker.execute(fails))
    await rejectionOf(breaker.execute(fails))
    store.fault = 'none'
    // Past the store's retry interval (it is read again) and the view's trust, not the reset timeout.
    clock.advance(5_000)
    expect((await breaker.getState()).state).toBe(CircuitState.CLOSED)

    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isCircuitOpenError(error) && error.reason).toBe(RejectionReason.LOCALLY_OPEN)
  })
})

describe('nested breakers', () => {
  it('does not count an outer breaker’s timeout as the inner downstream’s failure', async () => {
    const store = new MemoryStore()
    const outer = new CircuitBreaker({ circuitId: 'checkout', store, callTimeoutMs: 20 })
    const inner = new CircuitBreaker({ circuitId: 'payment-api', store, failureThreshold: 1 })
    const hangsUntilAborted = (signal: AbortSignal) =>
      new Promise<never>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    const error = await rejectionOf(outer.execute((signal) => inner.execute(hangsUntilAborted, { signal })))
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect(await inner.getState()).toMatchObject({ state: CircuitState.CLOSED, failures: 0 })
    expect((await outer.getState()).failures).toBe(1)
  })

  it('still counts the inner breaker’s own timeout when a caller signal is passed', async () => {
    const store = new MemoryStore()
    const inner = new CircuitBreaker({ circuitId: 'payment-api', store, failureThreshold: 5, callTimeoutMs: 5 })
    const caller = new AbortController()
    const hangsUntilAborted = (signal: AbortSignal) =>
      new Promise<never>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    const error = await rejectionOf(inner.execute(hangsUntilAborted, { signal: caller.signal }))
    expect(error).toBeInstanceOf(CallTimeoutError)
    expect((await inner.getState()).failures).toBe(1)
  })
})

describe('concurrency limits', () => {
  it('admits dozens of concurrent invocations with the defaults (Lambda Managed Instances)', async () => {
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store: new MemoryStore() })
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const calls = Array.from({ length: 64 }, () => breaker.execute(() => gate.then(() => 'ok')))
    release()
    const outcomes = await Promise.allSettled(calls)
    expect(outcomes.every((outcome) => outcome.status === 'fulfilled')).toBe(true)
  })

  it('rejects a queued call after maxQueueWaitMs when a slot is never given back', async () => {
    const breaker = new CircuitBreaker({
      circuitId: 'payment-api',
      store: new MemoryStore(),
      maxConcurrent: 1,
      maxQueued: 5,
      maxQueueWaitMs: 10,
    })
    const held = await breaker.admit() // never settled, as when a chain ends early
    expect(held.admitted).toBe(true)
    const error = await rejectionOf(breaker.execute(succeeds))
    expect(isConcurrencyLimitError(error)).toBe(true)
  })
})

describe('input that would break fencing or overrides', () => {
  it('rejects a circuit id with an unpaired surrogate, naming the option', () => {
    const build = () => new CircuitBreaker({ circuitId: 'payment-\uD800', store: new MemoryStore() })
    expect(build).toThrow(/circuitId must be a non-blank, well-formed string/)
  })

  it('rejects an override duration beyond ten years before writing anything', async () => {
    const store = new InstrumentedStore(new MemoryStore())
    const breaker = new CircuitBreaker({ circuitId: 'payment-api', store })
    const error = await rejectionOf(breaker.forceOpen({ durationMs: Number.MAX_SAFE_INTEGER }))
    expect(isInvalidConfigurationError(error)).toBe(true)
    expect(store.writes).toBe(0)
  })
})
