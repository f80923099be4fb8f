import {
  CircuitBreaker,
  CircuitState,
  type CircuitStore,
  MemoryStore,
  type StateChange,
  type TransitionOutcome,
  type TransitionRequest,
} from '@fleet-breaker/core'
import { InstrumentedStore, ManualClock, type StoreFault } from '@fleet-breaker/core/testing'
import { describe, expect, it, jest } from '@jest/globals'
import { silentLogger } from '../../../../test-support/logger.js'
import { fails, succeeds } from './support.js'

jest.setTimeout(120_000)

/*
 * The promise behind the fleet's metrics and events: summed over every environment, each transition
 * the store applied is reported `origin: 'local'` exactly once, however its answers were lost,
 * delayed or duplicated. The store below is the ground truth: it notes every transition it applied.
 */

/**
 * A shared store that remembers which transitions it applied (a retried request applies nothing
 * new), by the generation each started: a report names its transition by `incarnation/generation`.
 */
class LedgerStore extends MemoryStore {
  readonly applied = new Map<string, CircuitState>()

  override async transition(circuitId: string, request: TransitionRequest): Promise<TransitionOutcome> {
    const outcome = await super.transition(circuitId, request)
    const { record } = outcome
    if (outcome.applied && record.changedBy === request.opId) {
      this.applied.set(`${record.incarnation}/${record.generation}`, request.to.state)
    }
    return outcome
  }
}

/** The transition a change reports, as the ledger names it. */
function transitionOf(change: StateChange): string {
  return `${change.record.incarnation}/${change.generation}`
}

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const LOSSLESS: readonly StoreFault[] = ['none', 'none', 'retry', 'error']
const LOSSY: readonly StoreFault[] = ['none', 'none', 'none', 'lose-answer', 'late-answer', 'retry', 'error']

async function runFleet(seed: number, faults: readonly StoreFault[], storeTimeoutMs: number) {
  const next = random(seed)
  const clock = new ManualClock(1_700_000_000_000)
  const shared = new LedgerStore()
  const reported: StateChange[] = []
  const environments = Array.from({ length: 12 }, () => {
    const store = new InstrumentedStore(shared as CircuitStore)
    const breaker = new CircuitBreaker({
      circuitId: 'fuzzed',
      store,
      now: clock.now,
      logger: silentLogger,
      failureThreshold: 3,
      resetTimeoutMs: 1_000,
      cacheTtlMs: 200,
      // Real time: a late answer is given up after this long.
      storeTimeoutMs,
      storeRetryIntervalMs: 100,
      observers: [{ onStateChange: (change) => void reported.push(change) }],
    })
    return { store, breaker }
  })
  for (let round = 0; round < 60; round++) {
    const downstreamDown = next() < 0.5
    for (const environment of environments) {
      environment.store.fault = faults[Math.floor(next() * faults.length)] ?? 'none'
    }
    await Promise.all(
      environments.flatMap(({ breaker }) =>
        Array.from({ length: 3 }, () => breaker.execute(downstreamDown ? fails : succeeds).catch(() => undefined)),
      ),
    )
    clock.advance(Math.floor(next() * 700))
  }
  // Every environment learns the last word without faults, confirming what it still expects.
  for (const environment of environments) environment.store.fault = 'none'
  clock.advance(10_000)
  await Promise.all(environments.map(({ breaker }) => breaker.getState()))
  return { shared, reported }
}

function tally(shared: LedgerStore, reported: readonly StateChange[]) {
  const local = reported.filter((change) => change.origin === 'local' && change.from !== change.to)
  const byTransition = new Map<string, number>()
  for (const change of local) byTransition.set(transitionOf(change), (byTransition.get(transitionOf(change)) ?? 0) + 1)
  const applied = (state: CircuitState) => [...shared.applied.values()].filter((to) => to === state).length
  const reportedTo = (state: CircuitState) => local.filter((change) => change.to === state).length
  return {
    reportedTwice: [...byTransition].filter(([, count]) => count > 1),
    applied: {
      opened: applied(CircuitState.OPEN),
      halfOpened: applied(CircuitState.HALF_OPEN),
      closed: applied(CircuitState.CLOSED),
    },
    reported: {
      opened: reportedTo(CircuitState.OPEN),
      halfOpened: reportedTo(CircuitState.HALF_OPEN),
      closed: reportedTo(CircuitState.CLOSED),
    },
  }
}

describe('local state changes summed over a fleet of 12 environments, 3 concurrent invocations each', () => {
  it.each([1, 2, 3])('match the transitions applied when answers are duplicated or fail (seed %i)', async (seed) => {
    const { shared, reported } = await runFleet(seed, LOSSLESS, 30_000)
    const { reportedTwice, applied, reported: counts } = tally(shared, reported)
    expect(shared.applied.size).toBeGreaterThan(3)
    expect(reportedTwice).toEqual([])
    expect(counts).toEqual(applied)
  })

  it.each([1, 2, 3, 4])(
    'never report a transition twice, nor one never applied, when answers are lost (seed %i)',
    async (seed) => {
      const { shared, reported } = await runFleet(seed, LOSSY, 20)
      const { reportedTwice, applied, reported: counts } = tally(shared, reported)
      expect(shared.applied.size).toBeGreaterThan(3)
      expect(reportedTwice).toEqual([])
      // A transition whose answer was lost, and that the circuit left more than MAX_RECENT_CHANGES
      // generations behind before any answer reached its maker, goes unreported: fewer, never more.
      expect(counts.opened).toBeLessThanOrEqual(applied.opened)
      expect(counts.halfOpened).toBeLessThanOrEqual(applied.halfOpened)
      expect(counts.closed).toBeLessThanOrEqual(applied.closed)
      const everyLocal = reported.filter((change) => change.origin === 'local' && change.from !== change.to)
      for (const change of everyLocal) expect(shared.applied.get(transitionOf(change))).toBe(change.to)
    },
  )
})
