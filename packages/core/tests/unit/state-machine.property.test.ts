import {
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applySetShadow,
  applyTransition,
  CircuitBreaker,
  type CircuitRecord,
  CircuitState,
  type CircuitStore,
  initialRecord,
  liveProbes,
  MemoryStore,
  retryDelayMs,
  type StateChange,
} from '@fleet-breaker/core'
import { ManualClock } from '@fleet-breaker/core/testing'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { recordingLogger, ServiceUnavailable } from './support.js'

type Outcome = 'success' | 'failure' | 'ignored'

const serviceError = () => new ServiceUnavailable()
const clientError = () => Object.assign(new Error('bad request'), { statusCode: 400 })

function callFor(outcome: Outcome, onCall: () => void) {
  return async () => {
    onCall()
    if (outcome === 'failure') throw serviceError()
    if (outcome === 'ignored') throw clientError()
    return 'ok'
  }
}

/**
 * The reference: a textbook circuit breaker in one process, calls one at a time. With the cache
 * off and calls made one after another, a fleet sharing a store must behave exactly like it.
 */
class ModelBreaker {
  state: CircuitState = CircuitState.CLOSED
  failures = 0
  successes = 0
  openCount = 0
  retryAt = 0

  constructor(
    readonly threshold: number,
    readonly successThreshold: number,
    readonly resetTimeoutMs: number,
    readonly maxResetTimeoutMs: number,
  ) {}

  /** Returns whether the call is made. */
  call(now: number, outcome: Outcome): boolean {
    if (this.state === CircuitState.OPEN) {
      if (now < this.retryAt) return false
      this.state = CircuitState.HALF_OPEN
      this.successes = 0
    }
    if (this.state === CircuitState.HALF_OPEN) {
      if (outcome === 'failure') this.#open(now, this.openCount + 1)
      if (outcome === 'success' && ++this.successes >= this.successThreshold) {
        this.state = CircuitState.CLOSED
        this.failures = 0
        this.openCount = 0
      }
      return true
    }
    if (outcome === 'success') this.failures = 0
    if (outcome === 'failure' && ++this.failures >= this.threshold) this.#open(now, 1)
    return true
  }

  #open(now: number, openCount: number): void {
    this.state = CircuitState.OPEN
    this.openCount = openCount
    this.retryAt = now + retryDelayMs(openCount, this.resetTimeoutMs, this.maxResetTimeoutMs)
  }
}

describe('the state machine against a reference model', () => {
  it('matches a one-process breaker when a fleet makes calls one at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          environments: fc.integer({ min: 1, max: 4 }),
          threshold: fc.integer({ min: 1, max: 4 }),
          successThreshold: fc.integer({ min: 1, max: 3 }),
          steps: fc.array(
            fc.record({
              environment: fc.nat({ max: 3 }),
              outcome: fc.constantFrom<Outcome>('success', 'failure', 'failure', 'ignored'),
              advanceMs: fc.constantFrom(0, 0, 250, 1_000, 3_000),
            }),
            { maxLength: 60 },
          ),
        }),
        async ({ environments, threshold, successThreshold, steps }) => {
          const clock = new ManualClock()
          const store = new MemoryStore()
          const options = {
            circuitId: 'model',
            store,
            now: clock.now,
            failureThreshold: threshold,
            halfOpenSuccessThreshold: successThreshold,
            resetTimeoutMs: 1_000,
            maxResetTimeoutMs: 4_000,
            failureWindowMs: 10_000_000,
            cacheTtlMs: 0,
            logger: recordingLogger(),
          }
          const fleet = Array.from({ length: environments }, () => new CircuitBreaker(options))
          const model = new ModelBreaker(threshold, successThreshold, 1_000, 4_000)
          for (const step of steps) {
            clock.advance(step.advanceMs)
            const breaker = fleet[step.environment % environments] as CircuitBreaker
            let called = false
            await breaker
              .execute(
                callFor(step.outcome, () => {
                  called = true
                }),
              )
              .catch(() => undefined)
            expect(called).toBe(model.call(clock.now(), step.outcome))
            const snapshot = await breaker.getState()
            expect(snapshot.state).toBe(model.state)
            if (model.state === CircuitState.CLOSED) expect(snapshot.failures).toBe(model.failures)
            if (model.state === CircuitState.OPEN) expect(snapshot.retryAfterMs).toBe(model.retryAt - clock.now())
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})

/**
 * What happens to a write's answer: delivered, lost after the write was applied (a dropped
 * connection, a deadline that passed), or delivered after the write was applied twice (a client
 * retrying a request whose first answer was lost).
 */
type AnswerFault = 'delivered' | 'lost' | 'retried'

/**
 * A store whose every operation is applied at a moment the fast-check scheduler picks, logging each
 * change; `faultOf` decides what happens to each write's answer.
 */
function scheduledStore(scheduler: fc.Scheduler, faultOf: () => AnswerFault = () => 'delivered') {
  const records = new Map<string, CircuitRecord>()
  const log: Array<{ before: CircuitRecord; after: CircuitRecord; now: number; opId: string }> = []
  let mostLiveProbes = 0
  const change = async <T>(
    circuitId: string,
    request: { readonly now: number; readonly opId: string },
    apply: (current: CircuitRecord) => { result: T; next: CircuitRecord },
  ) => {
    const { now, opId } = request
    await scheduler.schedule(Promise.resolve(), 'store round trip')
    const fault = faultOf()
    const applyOnce = (): T => {
      const before = records.get(circuitId) ?? initialRecord(circuitId)
      const { result, next } = apply(before)
      if (next !== before) {
        records.set(circuitId, next)
        log.push({ before, after: next, now, opId })
        if (next.state === CircuitState.HALF_OPEN) {
          mostLiveProbes = Math.max(mostLiveProbes, liveProbes(next, now).length)
        }
      }
      return result
    }
    const result = applyOnce()
    if (fault === 'lost') throw new Error('the answer was lost')
    return fault === 'retried' ? applyOnce() : result
  }
  const same = (record: CircuitRecord) => ({ result: record, next: record })
  const store: CircuitStore = {
    get: async (circuitId) => {
      await scheduler.schedule(Promise.resolve(), 'store read')
      return records.get(circuitId)
    },
    getMany: async () => new Map(),
    addFailure: (id, request) => change(id, request, (r) => same(applyAddFailure(r, request))),
    addCounts: (id, request) => change(id, request, (r) => same(applyAddCounts(r, request))),
    resetFailures: (id, request) => change(id, request, (r) => same(applyResetFailures(r, request))),
    transition: (id, request) =>
      change(id, request, (r) => {
        const outcome = applyTransition(r, request)
        return { result: outcome, next: outcome.record }
      }),
    acquireProbe: (id, request) =>
      change(id, request, (r) => {
        const outcome = applyAcquireProbe(r, request)
        return { result: outcome, next: outcome.record }
      }),
    completeProbe: (id, request) => change(id, request, (r) => same(applyCompleteProbe(r, request))),
    setForced: (id, request) => change(id, request, (r) => same(applySetForced(r, request.forced, request))),
    reset: (id, request) => change(id, request, (r) => same(applyReset(r, request))),
    setShadow: (id, request) => change(id, request, (r) => same(applySetShadow(r, request.shadow, request))),
    setMany: async () => {},
    clearMany: async () => {},
    list: async () => ({ circuits: [] }),
  }
  return { store, log, records, mostLiveProbes: () => mostLiveProbes }
}

const interleavedRun = fc.record({
  environments: fc.integer({ min: 2, max: 6 }),
  threshold: fc.integer({ min: 1, max: 3 }),
  maxProbes: fc.integer({ min: 1, max: 3 }),
  successThreshold: fc.integer({ min: 1, max: 2 }),
  cacheTtlMs: fc.constantFrom(0, 500),
  batches: fc.array(
    fc.record({
      calls: fc.array(
        fc.record({
          environment: fc.nat({ max: 5 }),
          outcome: fc.constantFrom<Outcome>('success', 'failure', 'failure', 'ignored'),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      advanceMs: fc.constantFrom(0, 300, 1_000, 2_500),
    }),
    { minLength: 1, maxLength: 8 },
  ),
})

type InterleavedRun = typeof interleavedRun extends fc.Arbitrary<infer T> ? T : never

/** Runs the batches of calls through a fleet on a scheduled store; returns what a check needs. */
async function runInterleaved(scheduler: fc.Scheduler, run: InterleavedRun, faultOf?: () => AnswerFault) {
  const { environments, threshold, maxProbes, successThreshold, cacheTtlMs, batches } = run
  const clock = new ManualClock()
  const { store, log, records, mostLiveProbes } = scheduledStore(scheduler, faultOf)
  const changes: StateChange[] = []
  const fleet = Array.from({ length: environments }, () => {
    const breaker = new CircuitBreaker({
      circuitId: 'interleaved',
      store,
      now: clock.now,
      failureThreshold: threshold,
      halfOpenMaxProbes: maxProbes,
      halfOpenSuccessThreshold: successThreshold,
      resetTimeoutMs: 1_000,
      probeLeaseMs: 60_000,
      cacheTtlMs,
      logger: recordingLogger(),
    })
    breaker.onStateChange((change) => {
      changes.push(change)
    })
    return breaker
  })
  let probesInFlight = 0
  let mostProbesInFlight = 0
  for (const batch of batches) {
    const calls = batch.calls.map(async ({ environment, outcome }) => {
      const breaker = fleet[environment % environments] as CircuitBreaker
      const admission = await breaker.admit()
      if (!admission.admitted) return
      const { permit } = admission
      if (permit.isProbe) mostProbesInFlight = Math.max(mostProbesInFlight, ++probesInFlight)
      await scheduler.schedule(Promise.resolve(), 'downstream call')
      if (permit.isProbe) probesInFlight--
      if (outcome === 'success') await permit.recordResult('ok')
      else await permit.recordError(outcome === 'failure' ? serviceError() : clientError())
    })
    await scheduler.waitFor(Promise.all(calls))
    clock.advance(batch.advanceMs)
  }
  const transitions = log.filter(({ before, after }) => before.generation !== after.generation)
  return { log, transitions, changes, records, clock, mostProbesInFlight, mostLiveProbes: mostLiveProbes() }
}

/** The guarantees that hold whatever happens to answers. */
function expectSafety(run: InterleavedRun, outcome: Awaited<ReturnType<typeof runInterleaved>>): void {
  const { log, transitions, mostProbesInFlight, mostLiveProbes } = outcome
  for (const { before, after, now } of transitions) {
    expect(after.generation).toBe(before.generation + 1)
    const edge = `${before.state}->${after.state}`
    expect(['CLOSED->OPEN', 'OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED', 'HALF_OPEN->OPEN']).toContain(edge)
    if (edge === 'CLOSED->OPEN' && before.state === CircuitState.CLOSED)
      expect(before.failures).toBeGreaterThanOrEqual(run.threshold)
    if (edge === 'OPEN->HALF_OPEN' && before.state === CircuitState.OPEN)
      expect(before.retryAt).toBeLessThanOrEqual(now)
    // The success that completes the threshold closes in the same write, uncounted.
    if (edge === 'HALF_OPEN->CLOSED' && before.state === CircuitState.HALF_OPEN) {
      expect(before.successes).toBeGreaterThanOrEqual(run.successThreshold - 1)
    }
  }
  // Only transitions ever touch an open circuit: its retry time is never moved.
  for (const { before, after } of log) {
    if (before.state === CircuitState.OPEN && before.generation === after.generation) {
      expect(after).toEqual(before)
    }
  }
  // No write is ever applied twice: a retried request changes nothing the second time.
  const applied = log.map(({ opId }) => opId)
  expect(new Set(applied).size).toBe(applied.length)
  expect(mostProbesInFlight).toBeLessThanOrEqual(run.maxProbes)
  expect(mostLiveProbes).toBeLessThanOrEqual(run.maxProbes)
  // No orphaned lease: every call has settled, so no lease is held.
  const record = outcome.records.get('interleaved')
  if (record?.state === CircuitState.HALF_OPEN) expect(record.probes).toEqual([])
}

describe('the state machine under random interleavings', () => {
  it('keeps every fleet guarantee whatever order store operations and calls complete in', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), interleavedRun, async (scheduler, run) => {
        const outcome = await runInterleaved(scheduler, run)
        expectSafety(run, outcome)
        // Exactly one environment reports each transition as its own.
        expect(outcome.changes.filter((change) => change.origin === 'local')).toHaveLength(outcome.transitions.length)
      }),
      { numRuns: 150 },
    )
  })

  it('keeps every guarantee when clients retry writes whose answers were lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        interleavedRun,
        fc.infiniteStream(fc.constantFrom<AnswerFault>('delivered', 'delivered', 'retried')),
        async (scheduler, run, faults) => {
          const outcome = await runInterleaved(scheduler, run, () => faults.next().value)
          expectSafety(run, outcome)
          expect(outcome.changes.filter((change) => change.origin === 'local')).toHaveLength(outcome.transitions.length)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('keeps every safety guarantee when answers to applied writes are lost, and reports no transition twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        interleavedRun,
        fc.infiniteStream(fc.constantFrom<AnswerFault>('delivered', 'delivered', 'delivered', 'lost')),
        async (scheduler, run, faults) => {
          const outcome = await runInterleaved(scheduler, run, () => faults.next().value)
          expectSafety(run, outcome)
          const local = outcome.changes.filter((change) => change.origin === 'local')
          expect(local.length).toBeLessThanOrEqual(outcome.transitions.length)
          // Each reported transition is a distinct one: no generation is claimed twice.
          const claimed = local.map((change) => `${change.record.incarnation}/${change.generation}`)
          expect(new Set(claimed).size).toBe(claimed.length)
        },
      ),
      { numRuns: 150 },
    )
  })
})
