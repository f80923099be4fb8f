import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { type CircuitRecord, CircuitState, type HalfOpenRecord, type OpenRecord } from '../state.js'
import type { CircuitStore, TransitionOutcome } from '../store/contract.js'

/**
 * What the conformance suite needs from a store under test.
 *
 * `createStore()` returns a client for one simulated execution environment: cases create several
 * and call them concurrently, so each should have its own connection where the backend has one,
 * and all of them must share the same data.
 */
export interface ConformanceHarness {
  createStore(): CircuitStore | Promise<CircuitStore>
  /** The clock cases pass as `now`. Use real time for stores that decide with their own clock. */
  now(): number
  /** Lets `ms` pass on that clock (advance a manual clock, or wait for real time). */
  advance(ms: number): Promise<void>
  /** How far a store's answers may drift from the caller's clock, in ms (default 0). */
  readonly clockToleranceMs?: number
}

/** One behaviour every store must have. */
export interface ConformanceCase {
  readonly name: string
  run(harness: ConformanceHarness): Promise<void>
}

const LONG_WINDOW = 600_000
const OPEN_FOR = 60_000
const LEASE = 30_000
/** Short enough to wait out in real time, long enough to outlast the store round trips around it. */
const SHORT_MS = 400

function newCircuitId(): string {
  return `conformance-${randomUUID()}`
}

async function stores(harness: ConformanceHarness, count: number): Promise<CircuitStore[]> {
  return Promise.all(Array.from({ length: count }, () => harness.createStore()))
}

function expectState<S extends CircuitState>(
  record: CircuitRecord | undefined,
  state: S,
): asserts record is Extract<CircuitRecord, { state: S }> {
  assert.ok(record !== undefined, `expected a ${state} record, got none`)
  assert.equal(record.state, state)
}

/** Fields holding times, which a store deciding with its own clock may report a few ms apart. */
const TIME_FIELDS: ReadonlySet<string> = new Set([
  'changedAt',
  'windowStartedAt',
  'retryAt',
  'expiresAt',
  'since',
  'until',
])

/** Asserts two records are the same record: equal, but for times within the clock tolerance. */
function sameRecord(actual: unknown, expected: unknown, harness: ConformanceHarness, path = 'record'): void {
  if (typeof expected === 'object' && expected !== null) {
    assert.ok(typeof actual === 'object' && actual !== null, `${path}: expected an object, got ${String(actual)}`)
    const actualFields = actual as Record<string, unknown>
    const expectedFields = expected as Record<string, unknown>
    assert.deepEqual(Object.keys(actualFields).sort(), Object.keys(expectedFields).sort(), `${path}: fields differ`)
    for (const key of Object.keys(expectedFields)) {
      const field = `${path}.${key}`
      if (TIME_FIELDS.has(key) && typeof expectedFields[key] === 'number') {
        near(actualFields[key] as number, expectedFields[key] as number, harness, field)
      } else {
        sameRecord(actualFields[key], expectedFields[key], harness, field)
      }
    }
    return
  }
  assert.equal(actual, expected, path)
}

function near(actual: number, expected: number, harness: ConformanceHarness, what: string): void {
  const tolerance = harness.clockToleranceMs ?? 0
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: expected ${expected} ± ${tolerance}, got ${actual} (off by ${actual - expected})`,
  )
}

/** Counts `failures` failures, then opens the circuit; returns the OPEN record. */
async function openCircuit(store: CircuitStore, circuitId: string, harness: ConformanceHarness, retryInMs = OPEN_FOR) {
  await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
  const outcome = await store.transition(circuitId, {
    from: { state: CircuitState.CLOSED, generation: 0 },
    guard: { minFailures: 1 },
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs },
    now: harness.now(),
  })
  assert.ok(outcome.applied, 'the circuit should open')
  expectState(outcome.record, CircuitState.OPEN)
  return outcome.record
}

/** Opens the circuit with a short retry time, waits it out and enters HALF_OPEN holding slot 0. */
async function halfOpenCircuit(
  store: CircuitStore,
  circuitId: string,
  harness: ConformanceHarness,
  leaseMs = LEASE,
): Promise<{ record: HalfOpenRecord; token: string }> {
  const open = await openCircuit(store, circuitId, harness, 1)
  await harness.advance(5)
  const token = randomUUID()
  const outcome = await store.transition(circuitId, {
    from: { state: CircuitState.OPEN, generation: open.generation },
    guard: { retryDue: true },
    to: { state: CircuitState.HALF_OPEN, probe: { token, leaseMs } },
    now: harness.now(),
  })
  assert.ok(outcome.applied, 'the circuit should become half-open')
  expectState(outcome.record, CircuitState.HALF_OPEN)
  return { record: outcome.record, token }
}

/**
 * The behaviours every {@link CircuitStore} must have, independent of any test framework: each
 * case throws (through `node:assert`) when the store falls short.
 *
 * @example
 * ```ts
 * import { storeConformanceCases } from '@fleet-breaker/core/testing'
 * describe('MyStore conformance', () => {
 *   it.each(storeConformanceCases)('$name', (c) => c.run(harness))
 * })
 * ```
 */
export const storeConformanceCases: readonly ConformanceCase[] = [
  {
    name: 'reads an unknown circuit as absent',
    async run(harness) {
      const [store] = await stores(harness, 1)
      const circuitId = newCircuitId()
      assert.equal(await store?.get(circuitId, { now: harness.now() }), undefined)
      assert.equal((await store?.getMany([circuitId], { now: harness.now() }))?.size, 0)
    },
  },
  {
    name: 'counts concurrent failures from many environments exactly',
    async run(harness) {
      const environments = await stores(harness, 25)
      const circuitId = newCircuitId()
      const records = await Promise.all(
        environments.map((store) =>
          store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW }),
        ),
      )
      const seen = records.map((record) => (record.state === CircuitState.CLOSED ? record.failures : -1))
      // Each increment returns the count it produced: 1..25, each exactly once.
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from({ length: 25 }, (_, index) => index + 1),
      )
      const stored = await environments[0]?.get(circuitId, { now: harness.now() })
      expectState(stored, CircuitState.CLOSED)
      assert.equal(stored.failures, 25)
      assert.equal(stored.generation, 0)
    },
  },
  {
    name: 'starts a new failure window when the old one has lapsed',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: SHORT_MS })
      const second = await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: SHORT_MS })
      expectState(second, CircuitState.CLOSED)
      assert.equal(second.failures, 2)
      await harness.advance(SHORT_MS + 50)
      const third = await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: SHORT_MS })
      expectState(third, CircuitState.CLOSED)
      assert.equal(third.failures, 1)
    },
  },
  {
    name: 'ignores failures and resets addressed to another generation',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness)
      const late = await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      sameRecord(late, open, harness)
      const reset = await store.resetFailures(circuitId, { generation: 0, now: harness.now() })
      sameRecord(reset, open, harness)
      sameRecord(await store.get(circuitId, { now: harness.now() }), open, harness)
    },
  },
  {
    name: 'resets the failure count of the current generation',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      const reset = await store.resetFailures(circuitId, { generation: 0, now: harness.now() })
      expectState(reset, CircuitState.CLOSED)
      assert.equal(reset.failures, 0)
      assert.equal(reset.generation, 0)
      const next = await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      expectState(next, CircuitState.CLOSED)
      assert.equal(next.failures, 1)
    },
  },
  {
    name: 'lets exactly one of many concurrent environments perform a transition',
    async run(harness) {
      const environments = await stores(harness, 20)
      const circuitId = newCircuitId()
      for (let i = 0; i < 3; i++) {
        await environments[0]?.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      }
      const outcomes = await Promise.all(
        environments.map((store) =>
          store.transition(circuitId, {
            from: { state: CircuitState.CLOSED, generation: 0 },
            guard: { minFailures: 3 },
            to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR },
            now: harness.now(),
          }),
        ),
      )
      const winners = outcomes.filter((outcome) => outcome.applied)
      assert.equal(winners.length, 1, `expected one winner, got ${winners.length}`)
      const winner = winners[0]?.record
      expectState(winner, CircuitState.OPEN)
      assert.equal(winner.generation, 1)
      assert.equal(winner.openCount, 1)
      // Every loser learns the winner's state from its own answer, without another read.
      for (const outcome of outcomes) {
        expectState(outcome.record, CircuitState.OPEN)
        assert.equal(outcome.record.generation, 1)
        assert.equal(outcome.record.retryAt, winner.retryAt)
      }
    },
  },
  {
    name: 'refuses a transition whose guard does not hold',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      const outcome = await store.transition(circuitId, {
        from: { state: CircuitState.CLOSED, generation: 0 },
        guard: { minFailures: 2 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR },
        now: harness.now(),
      })
      assert.equal(outcome.applied, false)
      expectState(outcome.record, CircuitState.CLOSED)
      assert.equal(outcome.record.failures, 1)
      const early = await openCircuit(store, newCircuitId(), harness)
      const notYet = await store.transition(early.circuitId, {
        from: { state: CircuitState.OPEN, generation: early.generation },
        guard: { retryDue: true },
        to: { state: CircuitState.HALF_OPEN, probe: { token: randomUUID(), leaseMs: LEASE } },
        now: harness.now(),
      })
      assert.equal(notYet.applied, false, 'a circuit must not leave OPEN before its retry time')
      sameRecord(notYet.record, early, harness)
    },
  },
  {
    name: 'sets the retry time once: stale writes never move it',
    async run(harness) {
      const environments = await stores(harness, 10)
      const circuitId = newCircuitId()
      const [first] = environments
      assert.ok(first)
      const open = await openCircuit(first, circuitId, harness)
      near(open.retryAt, harness.now() + OPEN_FOR, harness, 'retryAt')
      await harness.advance(20)
      await Promise.all(
        environments.flatMap((store) => [
          store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW }),
          store.transition(circuitId, {
            from: { state: CircuitState.CLOSED, generation: 0 },
            to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR * 2 },
            now: harness.now(),
          }),
          store.transition(circuitId, {
            from: { state: CircuitState.OPEN, generation: open.generation },
            guard: { retryDue: true },
            to: { state: CircuitState.HALF_OPEN, probe: { token: randomUUID(), leaseMs: LEASE } },
            now: harness.now(),
          }),
          store.acquireProbe(circuitId, {
            generation: open.generation,
            maxProbes: 1,
            token: randomUUID(),
            leaseMs: LEASE,
            now: harness.now(),
          }),
        ]),
      )
      const after = await first.get(circuitId, { now: harness.now() })
      expectState(after, CircuitState.OPEN)
      assert.equal(after.generation, open.generation)
      assert.equal(after.openCount, open.openCount)
      near(after.retryAt, open.retryAt, harness, 'retryAt after stale writes')
    },
  },
  {
    name: 'grants at most maxProbes probe leases out of many concurrent attempts',
    async run(harness) {
      const maxProbes = 3
      const environments = await stores(harness, 12)
      const circuitId = newCircuitId()
      const [first] = environments
      assert.ok(first)
      const open = await openCircuit(first, circuitId, harness, 1)
      await harness.advance(5)
      const attempts = await Promise.all(
        environments.map(async (store) => {
          const token = randomUUID()
          const entered: TransitionOutcome = await store.transition(circuitId, {
            from: { state: CircuitState.OPEN, generation: open.generation },
            guard: { retryDue: true },
            to: { state: CircuitState.HALF_OPEN, probe: { token, leaseMs: LEASE } },
            now: harness.now(),
          })
          if (entered.applied) return { token, slot: 0, entered: true }
          const current = entered.record
          if (current.state !== CircuitState.HALF_OPEN) return undefined
          const probe = await store.acquireProbe(circuitId, {
            generation: current.generation,
            maxProbes,
            token,
            leaseMs: LEASE,
            now: harness.now(),
          })
          return probe.lease === undefined ? undefined : { token, slot: probe.lease.slot, entered: false }
        }),
      )
      const granted = attempts.filter((attempt) => attempt !== undefined)
      assert.equal(granted.filter((attempt) => attempt.entered).length, 1, 'exactly one environment enters HALF_OPEN')
      assert.equal(granted.length, maxProbes, `expected ${maxProbes} leases, got ${granted.length}`)
      assert.deepEqual(
        granted.map((attempt) => attempt.slot).sort(),
        Array.from({ length: maxProbes }, (_, slot) => slot),
      )
      const record = await first.get(circuitId, { now: harness.now() })
      expectState(record, CircuitState.HALF_OPEN)
      assert.deepEqual(record.probes.map((lease) => lease.token).sort(), granted.map((attempt) => attempt.token).sort())
    },
  },
  {
    name: 'lets another environment take a probe slot whose lease has lapsed',
    async run(harness) {
      const [store, other] = await stores(harness, 2)
      assert.ok(store && other)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness, SHORT_MS)
      const request = { generation: record.generation, maxProbes: 1, leaseMs: LEASE }
      const refused = await other.acquireProbe(circuitId, { ...request, token: randomUUID(), now: harness.now() })
      assert.equal(refused.lease, undefined, 'a live lease must not be taken')
      await harness.advance(SHORT_MS + 50)
      const token = randomUUID()
      const taken = await other.acquireProbe(circuitId, { ...request, token, now: harness.now() })
      assert.ok(taken.lease, 'a lapsed lease must be taken')
      assert.equal(taken.lease.slot, 0)
      assert.equal(taken.lease.token, token)
      near(taken.lease.expiresAt, harness.now() + LEASE, harness, 'lease expiry')
    },
  },
  {
    name: 'counts probe successes and frees the lease for the next probe',
    async run(harness) {
      const [store, other] = await stores(harness, 2)
      assert.ok(store && other)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const completed = await store.completeProbe(circuitId, {
        generation: record.generation,
        token,
        success: true,
        now: harness.now(),
      })
      expectState(completed, CircuitState.HALF_OPEN)
      assert.equal(completed.successes, 1)
      assert.equal(completed.probes.length, 0)
      const next = await other.acquireProbe(circuitId, {
        generation: record.generation,
        maxProbes: 1,
        token: randomUUID(),
        leaseMs: LEASE,
        now: harness.now(),
      })
      assert.ok(next.lease, 'the freed slot must be available')
    },
  },
  {
    name: 'never releases a lease held by another token',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const after = await store.completeProbe(circuitId, {
        generation: record.generation,
        token: randomUUID(),
        success: false,
        now: harness.now(),
      })
      expectState(after, CircuitState.HALF_OPEN)
      assert.deepEqual(
        after.probes.map((lease) => lease.token),
        [token],
      )
    },
  },
  {
    name: 'closes a half-open circuit only with enough successes, clearing the backoff',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const close = {
        from: { state: CircuitState.HALF_OPEN, generation: record.generation },
        guard: { minSuccesses: 1 },
        to: { state: CircuitState.CLOSED },
      } as const
      const tooEarly = await store.transition(circuitId, { ...close, now: harness.now() })
      assert.equal(tooEarly.applied, false)
      await store.completeProbe(circuitId, { generation: record.generation, token, success: true, now: harness.now() })
      const closed = await store.transition(circuitId, { ...close, now: harness.now() })
      assert.ok(closed.applied)
      expectState(closed.record, CircuitState.CLOSED)
      assert.equal(closed.record.failures, 0)
      assert.equal(closed.record.openCount, 0)
      assert.equal(closed.record.generation, record.generation + 1)
    },
  },
  {
    name: 'reopens a half-open circuit with the openCount it is given',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness)
      const reopened = await store.transition(circuitId, {
        from: { state: CircuitState.HALF_OPEN, generation: record.generation },
        to: { state: CircuitState.OPEN, openCount: 2, retryInMs: OPEN_FOR },
        now: harness.now(),
      })
      assert.ok(reopened.applied)
      expectState(reopened.record, CircuitState.OPEN)
      assert.equal(reopened.record.openCount, 2)
      near(reopened.record.retryAt, harness.now() + OPEN_FOR, harness, 'retryAt')
    },
  },
  {
    name: 'keeps a manual override through automatic transitions until it is cleared',
    async run(harness) {
      const [store, other] = await stores(harness, 2)
      assert.ok(store && other)
      const circuitId = newCircuitId()
      const forced = await store.setForced(circuitId, {
        forced: { state: CircuitState.OPEN, reason: 'maintenance', durationMs: OPEN_FOR },
        now: harness.now(),
      })
      assert.equal(forced.generation, 1)
      assert.equal(forced.forced?.state, CircuitState.OPEN)
      assert.equal(forced.forced?.reason, 'maintenance')
      near(forced.forced?.until ?? 0, harness.now() + OPEN_FOR, harness, 'override expiry')
      const stale = await other.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW })
      sameRecord(stale, forced, harness, 'a call admitted before the override must not count')
      const failed = await other.addFailure(circuitId, { generation: 1, now: harness.now(), windowMs: LONG_WINDOW })
      const opened = await other.transition(circuitId, {
        from: { state: CircuitState.CLOSED, generation: 1 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR },
        now: harness.now(),
      })
      assert.equal(failed.forced?.state, CircuitState.OPEN)
      assert.equal(opened.record.forced?.reason, 'maintenance', 'transitions keep the override')
      const cleared = await store.setForced(circuitId, { now: harness.now() })
      assert.equal(cleared.forced, undefined)
      assert.equal(cleared.state, CircuitState.OPEN, 'clearing the override leaves the automatic state')
      assert.equal(cleared.generation, opened.record.generation + 1)
    },
  },
  {
    name: 'resets a circuit to a fresh CLOSED state at a new generation',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness)
      await store.setForced(circuitId, { forced: { state: CircuitState.OPEN }, now: harness.now() })
      const reset = await store.reset(circuitId, { now: harness.now() })
      expectState(reset, CircuitState.CLOSED)
      assert.equal(reset.failures, 0)
      assert.equal(reset.openCount, 0)
      assert.equal(reset.forced, undefined)
      assert.ok(reset.generation > open.generation)
    },
  },
  {
    name: 'reads, overrides and clears many circuits in batches',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      // More than one DynamoDB batch (100 keys) worth of circuits.
      const circuitIds = Array.from({ length: 130 }, () => newCircuitId())
      const written = circuitIds.slice(0, 120)
      await Promise.all(
        written.map((circuitId) =>
          store.addFailure(circuitId, { generation: 0, now: harness.now(), windowMs: LONG_WINDOW }),
        ),
      )
      const read = await store.getMany(circuitIds, { now: harness.now() })
      assert.equal(read.size, written.length)
      for (const circuitId of written) {
        const record = read.get(circuitId)
        expectState(record, CircuitState.CLOSED)
        assert.equal(record.failures, 1)
        assert.equal(record.circuitId, circuitId)
      }
      await store.setMany(
        circuitIds.map((circuitId) => ({ circuitId, forced: { state: CircuitState.OPEN, reason: 'drill' } })),
        { now: harness.now() },
      )
      const forced = await store.getMany(circuitIds, { now: harness.now() })
      assert.equal(forced.size, circuitIds.length)
      for (const record of forced.values()) assert.equal(record.forced?.reason, 'drill')
      await store.clearMany(circuitIds)
      assert.equal((await store.getMany(circuitIds, { now: harness.now() })).size, 0)
    },
  },
  {
    name: 'reports times in the caller’s clock',
    async run(harness) {
      const [store] = await stores(harness, 1)
      assert.ok(store)
      const circuitId = newCircuitId()
      const before = harness.now()
      const first = await store.addFailure(circuitId, { generation: 0, now: before, windowMs: LONG_WINDOW })
      expectState(first, CircuitState.CLOSED)
      near(first.windowStartedAt ?? 0, before, harness, 'windowStartedAt')
      const open: OpenRecord = await openCircuit(store, newCircuitId(), harness)
      near(open.changedAt, harness.now(), harness, 'changedAt')
    },
  },
]
