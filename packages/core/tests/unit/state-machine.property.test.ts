import {
  applyAcquireProbe,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
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

/** A store whose every operation is applied at a moment the fast-check scheduler picks, logging each change. */
function scheduledStore(scheduler: fc.Scheduler) {
  const records = new Map<string, CircuitRecord>()
  const log: Array<{ before: CircuitRecord; after: CircuitRecord; now: number }> = []
  let mostLiveProbes = 0
  const change = async <T>(
    circuitId: string,
    now: number,
    apply: (current: CircuitRecord) => { result: T; next: CircuitRecord },
  ) => {
    await scheduler.schedule(Promise.resolve(), 'store round trip')
    const before = records.get(circuitId) ?? initialRecord(circuitId)
    const { result, next } = apply(before)
    if (next !== before) {
      records.set(circuitId, next)
      log.push({ before, after: next, now })
      if (next.state === CircuitState.HALF_OPEN) mostLiveProbes = Math.max(mostLiveProbes, liveProbes(next, now).length)
    }
    return result
  }
  const same = (record: CircuitRecord) => ({ result: record, next: record })
  const store: CircuitStore = {
    get: async (circuitId) => {
      await scheduler.schedule(Promise.resolve(), 'store read')
      return records.get(circuitId)
    },
    getMany: async () => new Map(),
    addFailure: (id, request) => change(id, request.now, (r) => same(applyAddFailure(r, request))),
    resetFailures: (id, request) => change(id, request.now, (r) => same(applyResetFailures(r, request))),
    transition: (id, request) =>
      change(id, request.now, (r) => {
        const outcome = applyTransition(r, request)
        return { result: outcome, next: outcome.record }
      }),
    acquireProbe: (id, request) =>
      change(id, request.now, (r) => {
        const outcome = applyAcquireProbe(r, request)
        return { result: outcome, next: outcome.record }
      }),
    completeProbe: (id, request) => change(id, request.now, (r) => same(applyCompleteProbe(r, request))),
    setForced: (id, request) => change(id, request.now, (r) => same(applySetForced(r, request.forced, request.now))),
    reset: (id, request) => change(id, request.now, (r) => same(applyReset(r, request))),
    setMany: async () => {},
    clearMany: async () => {},
  }
  return { store, log, mostLiveProbes: () => mostLiveProbes }
}

describe('the state machine under random interleavings', () => {
  it('keeps every fleet guarantee whatever order store operations and calls complete in', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.record({
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
                {
                  minLength: 1,
                  maxLength: 8,
                },
              ),
              advanceMs: fc.constantFrom(0, 300, 1_000, 2_500),
            }),
            { minLength: 1, maxLength: 8 },
          ),
        }),
        async (scheduler, { environments, threshold, maxProbes, successThreshold, cacheTtlMs, batches }) => {
          const clock = new ManualClock()
          const { store, log, mostLiveProbes } = scheduledStore(scheduler)
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
              cacheTtlMs,
              maxConcurrent: Number.POSITIVE_INFINITY,
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
          for (const { before, after, now } of transitions) {
            expect(after.generation).toBe(before.generation + 1)
            const edge = `${before.state}->${after.state}`
            expect(['CLOSED->OPEN', 'OPEN->HALF_OPEN', 'HALF_OPEN->CLOSED', 'HALF_OPEN->OPEN']).toContain(edge)
            if (edge === 'CLOSED->OPEN' && before.state === CircuitState.CLOSED)
              expect(before.failures).toBeGreaterThanOrEqual(threshold)
            if (edge === 'OPEN->HALF_OPEN' && before.state === CircuitState.OPEN)
              expect(before.retryAt).toBeLessThanOrEqual(now)
            // The success that completes the threshold closes in the same write, uncounted.
            if (edge === 'HALF_OPEN->CLOSED' && before.state === CircuitState.HALF_OPEN) {
              expect(before.successes).toBeGreaterThanOrEqual(successThreshold - 1)
            }
          }
          // Only transitions ever touch an open circuit: its retry time is never moved.
          for (const { before, after } of log) {
            if (before.state === CircuitState.OPEN && before.generation === after.generation) {
              expect(after).toEqual(before)
            }
          }
          // Exactly one environment reports each transition as its own.
          expect(changes.filter((change) => change.origin === 'local')).toHaveLength(transitions.length)
          expect(mostProbesInFlight).toBeLessThanOrEqual(maxProbes)
          expect(mostLiveProbes()).toBeLessThanOrEqual(maxProbes)
        },
      ),
      { numRuns: 150 },
    )
  })
})
