import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { isInvalidConfigurationError } from '../errors.js'
import {
  type CircuitRecord,
  CircuitState,
  generationMadeBy,
  type HalfOpenRecord,
  HistoryAction,
  MAX_FAILING_ENVIRONMENTS,
  MAX_HISTORY,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  type OpenRecord,
} from '../state.js'
import type {
  AcquireProbeRequest,
  AddCountsRequest,
  AddFailureRequest,
  CircuitStore,
  CompleteProbeRequest,
  ListPage,
  ResetFailuresRequest,
  TransitionOutcome,
  TransitionRequest,
  WriteRequest,
} from '../store/contract.js'

/**
 * What the conformance suite needs from a store under test.
 *
 * `createStore()` returns a client for one simulated execution environment: cases create several
 * and call them concurrently, so each should have its own connection where the backend has one,
 * and all of them must share the same data.
 *
 * @example
 * ```ts
 * const clock = new ManualClock()
 * const harness: ConformanceHarness = {
 *   createStore: () => new DynamoDBStore({ tableName, client: new DynamoDBClient({}) }),
 *   now: clock.now,
 *   advance: async (ms) => clock.advance(ms),
 * }
 * ```
 */
export interface ConformanceHarness {
  createStore(): CircuitStore | Promise<CircuitStore>
  /** The clock cases pass as `now`. Use real time for stores that decide with their own clock. */
  now(): number
  /** Lets `ms` pass on that clock (advance a manual clock, or wait for real time). */
  advance(ms: number): Promise<void>
  /** How far a store's answers may drift from the caller's clock, in ms (default 0). */
  readonly clockToleranceMs?: number
  /**
   * Deletes a circuit's record behind the stores' back, as data loss does (a Redis restart without
   * persistence, an item expired by its TTL, a table restored from an older backup). Optional: the
   * lost-record cases use the store's own `clearMany` without it.
   */
  loseRecord?(circuitId: string): Promise<void>
  /**
   * Whether the store's `list` may return a circuit twice across pages (the Redis store's SCAN can,
   * while the server resizes its key table). Default false: every circuit exactly once.
   */
  readonly listMayRepeat?: boolean
}

/**
 * One behaviour every store must have.
 *
 * @example
 * ```ts
 * for (const conformanceCase of storeConformanceCases) {
 *   it(conformanceCase.name, () => conformanceCase.run(harness), conformanceCase.timeoutMs)
 * }
 * ```
 */
export interface ConformanceCase {
  readonly name: string
  /**
   * A generous upper bound on how long the case takes against a networked store on a loaded
   * machine (tens of milliseconds per write), for the test framework's per-test timeout.
   */
  readonly timeoutMs: number
  run(harness: ConformanceHarness): Promise<void>
}

const LONG_WINDOW = 600_000
const OPEN_FOR = 60_000
const LEASE = 30_000
/** Short enough to wait out in real time, long enough to outlast the store round trips around it. */
const SHORT_MS = 400

/** A few writes from one or two environments. */
const FEW_WRITES_MS = 20_000
/** Many environments at once, or dozens of writes in a row. */
const MANY_WRITES_MS = 30_000
/** Batches over more than a hundred circuits. */
const BATCH_MS = 60_000

function newCircuitId(): string {
  return `conformance-${randomUUID()}`
}

async function stores(harness: ConformanceHarness, count: number): Promise<CircuitStore[]> {
  return Promise.all(Array.from({ length: count }, () => harness.createStore()))
}

async function twoStores(harness: ConformanceHarness): Promise<[CircuitStore, CircuitStore]> {
  const [store, other] = await stores(harness, 2)
  assert.ok(store && other)
  return [store, other]
}

async function oneStore(harness: ConformanceHarness): Promise<CircuitStore> {
  const [store] = await stores(harness, 1)
  assert.ok(store)
  return store
}

/** The part every write carries: a fresh op id and the caller's clock. */
function write(harness: ConformanceHarness): WriteRequest {
  return { opId: randomUUID(), now: harness.now() }
}

/** A new failure against a closed circuit of `generation`. */
function failure(harness: ConformanceHarness, generation: number, windowMs = LONG_WINDOW): AddFailureRequest {
  return { ...write(harness), generation, windowMs }
}

/** A new reset of the failure count of a closed circuit of `generation`. */
function success(harness: ConformanceHarness, generation: number): ResetFailuresRequest {
  return { ...write(harness), generation }
}

/** A new request for a probe slot of a half-open circuit of `generation`. */
function probeClaim(harness: ConformanceHarness, generation: number, maxProbes: number): AcquireProbeRequest {
  return { ...write(harness), generation, maxProbes, token: randomUUID(), leaseMs: LEASE }
}

/** A new completion of the probe holding `token`. */
function probeDone(
  harness: ConformanceHarness,
  generation: number,
  token: string,
  succeeded: boolean,
): CompleteProbeRequest {
  return { ...write(harness), generation, token, success: succeeded }
}

function expectState<S extends CircuitState>(
  record: CircuitRecord | undefined,
  state: S,
): asserts record is Extract<CircuitRecord, { state: S }> {
  assert.ok(record !== undefined, `expected a ${state} record, got none`)
  assert.equal(record.state, state)
}

function failuresOf(record: CircuitRecord | undefined): number {
  expectState(record, CircuitState.CLOSED)
  return record.failures
}

/** The counting writes a record remembers; absent and empty mean the same. */
function recentOpsOf(record: CircuitRecord | undefined): readonly string[] {
  return record?.recentOps ?? []
}

/** Fields holding times, which a store deciding with its own clock may report a few ms apart. */
const TIME_FIELDS: ReadonlySet<string> = new Set([
  'changedAt',
  'windowStartedAt',
  'retryAt',
  'expiresAt',
  'since',
  'until',
  'at',
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

/** Asserts the store holds a record for `circuitId` that is the same as `expected`. */
async function storedIs(
  store: CircuitStore,
  circuitId: string,
  expected: CircuitRecord,
  harness: ConformanceHarness,
  what: string,
): Promise<void> {
  sameRecord(await store.get(circuitId, { now: harness.now() }), expected, harness, what)
}

/** The transition that opens a closed circuit of `generation` after at least one failure. */
function opening(harness: ConformanceHarness, generation: number, retryInMs = OPEN_FOR): TransitionRequest {
  return {
    ...write(harness),
    from: { state: CircuitState.CLOSED, generation },
    guard: { minFailures: 1 },
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs },
  }
}

/**
 * The transition that takes an open circuit of `generation` to HALF_OPEN once its retry time has
 * come, `token` holding probe slot 0.
 */
function halfOpening(
  harness: ConformanceHarness,
  generation: number,
  token: string = randomUUID(),
  leaseMs = LEASE,
): TransitionRequest {
  return {
    ...write(harness),
    from: { state: CircuitState.OPEN, generation },
    guard: { retryDue: true },
    to: { state: CircuitState.HALF_OPEN, probe: { token, leaseMs } },
  }
}

/** Counts a failure, then opens the circuit; returns the OPEN record. */
async function openCircuit(
  store: CircuitStore,
  circuitId: string,
  harness: ConformanceHarness,
  retryInMs = OPEN_FOR,
): Promise<OpenRecord> {
  await store.addFailure(circuitId, failure(harness, 0))
  const outcome = await store.transition(circuitId, opening(harness, 0, retryInMs))
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
  const outcome = await store.transition(circuitId, halfOpening(harness, open.generation, token, leaseMs))
  assert.ok(outcome.applied, 'the circuit should become half-open')
  expectState(outcome.record, CircuitState.HALF_OPEN)
  return { record: outcome.record, token }
}

/** The transition a probe holding `token` makes to close a half-open circuit of `generation`. */
function closingBy(harness: ConformanceHarness, generation: number, token: string): TransitionRequest {
  return {
    ...write(harness),
    from: { state: CircuitState.HALF_OPEN, generation },
    guard: { probeToken: token },
    to: { state: CircuitState.CLOSED },
  }
}

/** Deletes the circuit's record the way the harness says data is lost, or with `clearMany`. */
async function loseRecord(harness: ConformanceHarness, store: CircuitStore, circuitId: string): Promise<void> {
  if (harness.loseRecord === undefined) await store.clearMany([circuitId])
  else await harness.loseRecord(circuitId)
}

/** Asserts `record` is what a store answers for a circuit it holds nothing for. */
function isFresh(record: CircuitRecord, circuitId: string, what: string): void {
  expectState(record, CircuitState.CLOSED)
  assert.equal(record.circuitId, circuitId, `${what}: circuitId`)
  assert.equal(record.incarnation, '', `${what}: a circuit the store holds nothing for has no incarnation`)
  assert.equal(record.generation, 0, `${what}: generation`)
  assert.equal(record.failures, 0, `${what}: failures`)
}

/** Cases on the basic operations: reads, counting, transitions, probes, overrides and batches. */
const operationCases: readonly ConformanceCase[] = [
  {
    name: 'reads an unknown circuit as absent',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      assert.equal(await store.get(circuitId, { now: harness.now() }), undefined)
      assert.equal((await store.getMany([circuitId], { now: harness.now() })).size, 0)
    },
  },
  {
    name: 'counts concurrent failures from many environments exactly, each answer naming the failures before it',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const count = 25
      const environments = await stores(harness, count)
      const circuitId = newCircuitId()
      const requests = environments.map((store) => ({ store, request: failure(harness, 0) }))
      const records = await Promise.all(requests.map(({ store, request }) => store.addFailure(circuitId, request)))
      const seen = records.map(failuresOf)
      // Each increment returns the count it produced: 1..25, each exactly once.
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from({ length: count }, (_, index) => index + 1),
      )
      const stored = await environments[0]?.get(circuitId, { now: harness.now() })
      expectState(stored, CircuitState.CLOSED)
      assert.equal(stored.failures, count)
      assert.equal(stored.generation, 0)
      // The order the store applied them in: every answer is the record after its own write.
      const order = recentOpsOf(stored)
      assert.deepEqual([...order].sort(), requests.map(({ request }) => request.opId).sort())
      records.forEach((record, index) => {
        const counted = failuresOf(record)
        assert.deepEqual(recentOpsOf(record), order.slice(0, counted), `the answer with ${counted} failures`)
        assert.equal(order[counted - 1], requests[index]?.request.opId, 'an answer is the record its own write made')
      })
    },
  },
  {
    name: 'starts a new failure window when the old one has lapsed',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0, SHORT_MS))
      const second = await store.addFailure(circuitId, failure(harness, 0, SHORT_MS))
      assert.equal(failuresOf(second), 2)
      await harness.advance(SHORT_MS + 50)
      const third = await store.addFailure(circuitId, failure(harness, 0, SHORT_MS))
      assert.equal(failuresOf(third), 1)
    },
  },
  {
    name: 'ignores failures and resets addressed to another generation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness)
      const late = await store.addFailure(circuitId, failure(harness, 0))
      sameRecord(late, open, harness)
      const reset = await store.resetFailures(circuitId, success(harness, 0))
      sameRecord(reset, open, harness)
      await storedIs(store, circuitId, open, harness, 'record')
    },
  },
  {
    name: 'resets the failure count of the current generation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      await store.addFailure(circuitId, failure(harness, 0))
      const reset = await store.resetFailures(circuitId, success(harness, 0))
      assert.equal(failuresOf(reset), 0)
      assert.equal(reset.generation, 0)
      const next = await store.addFailure(circuitId, failure(harness, 0))
      assert.equal(failuresOf(next), 1)
    },
  },
  {
    name: 'lets exactly one of many concurrent environments perform a transition, and tells every loser who won',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const environments = await stores(harness, 20)
      const circuitId = newCircuitId()
      for (let i = 0; i < 3; i++) await environments[0]?.addFailure(circuitId, failure(harness, 0))
      const attempts = await Promise.all(
        environments.map(async (store) => {
          const request: TransitionRequest = { ...opening(harness, 0), guard: { minFailures: 3 } }
          return { opId: request.opId, outcome: await store.transition(circuitId, request) }
        }),
      )
      const outcomes = attempts.map(({ outcome }) => outcome)
      const winners = attempts.filter(({ outcome }) => outcome.applied).map(({ opId }) => opId)
      assert.equal(winners.length, 1, `expected one winner, got ${winners.length}`)
      const winner = outcomes.find((outcome) => outcome.applied)?.record
      expectState(winner, CircuitState.OPEN)
      assert.equal(winner.generation, 1)
      assert.equal(winner.openCount, 1)
      assert.equal(winner.changedBy, winners[0], 'the new generation names the write that started it')
      // Every loser learns the winner's state, and who made it, from its own answer.
      for (const outcome of outcomes) {
        expectState(outcome.record, CircuitState.OPEN)
        assert.equal(outcome.record.generation, 1)
        assert.equal(outcome.record.retryAt, winner.retryAt)
        assert.equal(outcome.record.changedBy, winners[0])
      }
    },
  },
  {
    name: 'refuses a transition whose guard does not hold',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      const outcome = await store.transition(circuitId, { ...opening(harness, 0), guard: { minFailures: 2 } })
      assert.equal(outcome.applied, false)
      assert.equal(failuresOf(outcome.record), 1)
      const early = await openCircuit(store, newCircuitId(), harness)
      const notYet = await store.transition(early.circuitId, halfOpening(harness, early.generation))
      assert.equal(notYet.applied, false, 'a circuit must not leave OPEN before its retry time')
      sameRecord(notYet.record, early, harness)
    },
  },
  {
    name: 'sets the retry time once: stale writes never move it',
    timeoutMs: MANY_WRITES_MS,
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
          store.addFailure(circuitId, failure(harness, 0)),
          store.transition(circuitId, {
            ...write(harness),
            from: { state: CircuitState.CLOSED, generation: 0 },
            to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR * 2 },
          }),
          store.transition(circuitId, halfOpening(harness, open.generation)),
          store.acquireProbe(circuitId, probeClaim(harness, open.generation, 1)),
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
    timeoutMs: MANY_WRITES_MS,
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
          const entered: TransitionOutcome = await store.transition(
            circuitId,
            halfOpening(harness, open.generation, token),
          )
          if (entered.applied) return { token, slot: 0, entered: true }
          const current = entered.record
          if (current.state !== CircuitState.HALF_OPEN) return undefined
          const probe = await store.acquireProbe(circuitId, {
            ...probeClaim(harness, current.generation, maxProbes),
            token,
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
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness, SHORT_MS)
      const refused = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 1))
      assert.equal(refused.lease, undefined, 'a live lease must not be taken')
      await harness.advance(SHORT_MS + 50)
      const claim = probeClaim(harness, record.generation, 1)
      const taken = await other.acquireProbe(circuitId, claim)
      assert.ok(taken.lease, 'a lapsed lease must be taken')
      assert.equal(taken.lease.slot, 0)
      assert.equal(taken.lease.token, claim.token)
      near(taken.lease.expiresAt, harness.now() + LEASE, harness, 'lease expiry')
    },
  },
  {
    name: 'counts probe successes and frees the lease for the next probe',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const completed = await store.completeProbe(circuitId, probeDone(harness, record.generation, token, true))
      expectState(completed, CircuitState.HALF_OPEN)
      assert.equal(completed.successes, 1)
      assert.equal(completed.probes.length, 0)
      const next = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 1))
      assert.ok(next.lease, 'the freed slot must be available')
    },
  },
  {
    name: 'never releases a lease held by another token',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const after = await store.completeProbe(circuitId, probeDone(harness, record.generation, randomUUID(), false))
      expectState(after, CircuitState.HALF_OPEN)
      assert.deepEqual(
        after.probes.map((lease) => lease.token),
        [token],
      )
    },
  },
  {
    name: 'closes a half-open circuit only with enough successes, clearing the backoff',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const close = {
        from: { state: CircuitState.HALF_OPEN, generation: record.generation },
        guard: { minSuccesses: 1 },
        to: { state: CircuitState.CLOSED },
      } as const
      const tooEarly = await store.transition(circuitId, { ...close, ...write(harness) })
      assert.equal(tooEarly.applied, false)
      await store.completeProbe(circuitId, probeDone(harness, record.generation, token, true))
      const closed = await store.transition(circuitId, { ...close, ...write(harness) })
      assert.ok(closed.applied)
      expectState(closed.record, CircuitState.CLOSED)
      assert.equal(closed.record.failures, 0)
      assert.equal(closed.record.openCount, 0)
      assert.equal(closed.record.generation, record.generation + 1)
    },
  },
  {
    name: 'reopens a half-open circuit with the openCount it is given',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness)
      const reopened = await store.transition(circuitId, {
        ...write(harness),
        from: { state: CircuitState.HALF_OPEN, generation: record.generation },
        to: { state: CircuitState.OPEN, openCount: 2, retryInMs: OPEN_FOR },
      })
      assert.ok(reopened.applied)
      expectState(reopened.record, CircuitState.OPEN)
      assert.equal(reopened.record.openCount, 2)
      near(reopened.record.retryAt, harness.now() + OPEN_FOR, harness, 'retryAt')
    },
  },
  {
    name: 'keeps a manual override through automatic transitions until it is cleared',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const forced = await store.setForced(circuitId, {
        ...write(harness),
        forced: { state: CircuitState.OPEN, reason: 'maintenance', durationMs: OPEN_FOR },
      })
      assert.equal(forced.generation, 1)
      assert.equal(forced.forced?.state, CircuitState.OPEN)
      assert.equal(forced.forced?.reason, 'maintenance')
      near(forced.forced?.until ?? 0, harness.now() + OPEN_FOR, harness, 'override expiry')
      const stale = await other.addFailure(circuitId, failure(harness, 0))
      sameRecord(stale, forced, harness, 'a call admitted before the override must not count')
      const failed = await other.addFailure(circuitId, failure(harness, 1))
      const opened = await other.transition(circuitId, {
        ...write(harness),
        from: { state: CircuitState.CLOSED, generation: 1 },
        to: { state: CircuitState.OPEN, openCount: 1, retryInMs: OPEN_FOR },
      })
      assert.equal(failed.forced?.state, CircuitState.OPEN)
      assert.equal(opened.record.forced?.reason, 'maintenance', 'transitions keep the override')
      const cleared = await store.setForced(circuitId, write(harness))
      assert.equal(cleared.forced, undefined)
      assert.equal(cleared.state, CircuitState.OPEN, 'clearing the override leaves the automatic state')
      assert.equal(cleared.generation, opened.record.generation + 1)
    },
  },
  {
    name: 'resets a circuit to a fresh CLOSED state at a new generation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness)
      await store.setForced(circuitId, { ...write(harness), forced: { state: CircuitState.OPEN } })
      const reset = await store.reset(circuitId, write(harness))
      assert.equal(failuresOf(reset), 0)
      assert.equal(reset.openCount, 0)
      assert.equal(reset.forced, undefined)
      assert.ok(reset.generation > open.generation)
    },
  },
  {
    name: 'reads, overrides and clears many circuits in batches',
    timeoutMs: BATCH_MS,
    async run(harness) {
      const store = await oneStore(harness)
      // More than one DynamoDB batch (100 keys) worth of circuits.
      const circuitIds = Array.from({ length: 130 }, () => newCircuitId())
      const written = circuitIds.slice(0, 120)
      await Promise.all(written.map((circuitId) => store.addFailure(circuitId, failure(harness, 0))))
      const read = await store.getMany(circuitIds, { now: harness.now() })
      assert.equal(read.size, written.length)
      for (const circuitId of written) {
        const record = read.get(circuitId)
        assert.equal(failuresOf(record), 1)
        assert.equal(record?.circuitId, circuitId)
      }
      await store.setMany(
        circuitIds.map((circuitId) => ({ circuitId, forced: { state: CircuitState.OPEN, reason: 'drill' } })),
        write(harness),
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
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const request = failure(harness, 0)
      const first = await store.addFailure(circuitId, request)
      expectState(first, CircuitState.CLOSED)
      near(first.windowStartedAt ?? 0, request.now, harness, 'windowStartedAt')
      const open = await openCircuit(store, newCircuitId(), harness)
      near(open.changedAt, harness.now(), harness, 'changedAt')
    },
  },
]

/** Cases on who made a record: its incarnation, and the write behind each generation. */
const provenanceCases: readonly ConformanceCase[] = [
  {
    name: 'names a new record after the write that created it, and keeps that name',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const counted = newCircuitId()
      const first = failure(harness, 0)
      const created = await store.addFailure(counted, first)
      assert.equal(created.incarnation, first.opId, 'a failure creating the record names it')
      assert.equal((await other.addFailure(counted, failure(harness, 0))).incarnation, first.opId)
      const opened = await other.transition(counted, opening(harness, 0))
      assert.equal(opened.record.incarnation, first.opId, 'a transition keeps the name')
      const forcedRequest = { ...write(harness), forced: { state: CircuitState.OPEN } } as const
      const forcedElsewhere = newCircuitId()
      const forced = await store.setForced(forcedElsewhere, forcedRequest)
      assert.equal(forced.incarnation, forcedRequest.opId, 'an override creating the record names it')
      assert.equal(forced.changedBy, forcedRequest.opId)
      const resetRequest = write(harness)
      const resetElsewhere = newCircuitId()
      const reset = await store.reset(resetElsewhere, resetRequest)
      assert.equal(reset.incarnation, resetRequest.opId, 'a reset creating the record names it')
      const batchRequest = write(harness)
      const batched = newCircuitId()
      await store.setMany([{ circuitId: batched }, { circuitId: counted }], batchRequest)
      const after = await other.getMany([batched, counted], { now: harness.now() })
      assert.equal(after.get(batched)?.incarnation, batchRequest.opId, 'a batch creating the record names it')
      assert.equal(after.get(counted)?.incarnation, first.opId, 'a batch keeps the name of an existing record')
    },
  },
  {
    name: 'creates no record for a write that changes nothing',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      isFresh(await store.addFailure(circuitId, failure(harness, 3)), circuitId, 'a fenced failure')
      isFresh(await store.resetFailures(circuitId, success(harness, 0)), circuitId, 'a reset of no failures')
      const outcome = await store.transition(circuitId, opening(harness, 0))
      assert.equal(outcome.applied, false, 'no failures were counted')
      isFresh(outcome.record, circuitId, 'a refused transition')
      const probe = await store.acquireProbe(circuitId, probeClaim(harness, 0, 1))
      assert.equal(probe.lease, undefined)
      isFresh(probe.record, circuitId, 'a refused probe')
      assert.equal(await store.get(circuitId, { now: harness.now() }), undefined)
    },
  },
  {
    name: 'names each new generation after the write that started it, with no counting writes yet',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      const open = opening(harness, 0)
      const opened = await store.transition(circuitId, open)
      assert.equal(opened.record.changedBy, open.opId)
      assert.deepEqual(recentOpsOf(opened.record), [], 'a transition forgets the counting writes before it')
      const resetRequest = write(harness)
      const reset = await store.reset(circuitId, resetRequest)
      assert.equal(reset.changedBy, resetRequest.opId)
      assert.deepEqual(recentOpsOf(reset), [])
      await store.addFailure(circuitId, failure(harness, reset.generation))
      const forceRequest = { ...write(harness), forced: { state: CircuitState.CLOSED } } as const
      const forced = await store.setForced(circuitId, forceRequest)
      assert.equal(forced.changedBy, forceRequest.opId)
      assert.equal(forced.generation, reset.generation + 1)
      assert.deepEqual(recentOpsOf(forced), [], 'an override forgets the counting writes before it')
      await store.addFailure(circuitId, failure(harness, forced.generation))
      const batchRequest = write(harness)
      await store.setMany([{ circuitId }], batchRequest)
      const batched = await store.get(circuitId, { now: harness.now() })
      assert.equal(batched?.changedBy, batchRequest.opId)
      assert.equal(batched?.generation, forced.generation + 1)
      assert.deepEqual(recentOpsOf(batched), [], 'a batch override forgets the counting writes before it')
    },
  },
]

/** Cases where the same write reaches the store twice (an SDK or client retry). */
const retryCases: readonly ConformanceCase[] = [
  {
    name: 'counts a retried failure once and answers the retry as the first time',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const request = failure(harness, 0)
      const first = await store.addFailure(circuitId, request)
      sameRecord(await store.addFailure(circuitId, request), first, harness, 'the retry’s answer')
      assert.equal(failuresOf(await store.get(circuitId, { now: harness.now() })), 1)
      await other.addFailure(circuitId, failure(harness, 0))
      const late = await store.addFailure(circuitId, request)
      assert.equal(failuresOf(late), 2, 'a retry after another failure is still counted once')
      // Both copies in flight at once, as when a client retries before the first answer arrives.
      const racing = failure(harness, 0)
      const answers = await Promise.all([store.addFailure(circuitId, racing), other.addFailure(circuitId, racing)])
      assert.deepEqual(answers.map(failuresOf), [3, 3])
      assert.equal(failuresOf(await store.get(circuitId, { now: harness.now() })), 3)
    },
  },
  {
    name: 'never lets a retried reset of the failure count erase failures counted after it',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      await store.addFailure(circuitId, failure(harness, 0))
      const request = success(harness, 0)
      const first = await store.resetFailures(circuitId, request)
      assert.equal(failuresOf(first), 0)
      sameRecord(await store.resetFailures(circuitId, request), first, harness, 'the retry’s answer')
      assert.equal(failuresOf(await other.addFailure(circuitId, failure(harness, 0))), 1)
      assert.equal(failuresOf(await store.resetFailures(circuitId, request)), 1, 'the retry must not erase it')
      assert.equal(failuresOf(await other.addFailure(circuitId, failure(harness, 0))), 2)
      assert.equal(failuresOf(await store.resetFailures(circuitId, request)), 2, 'nor a later one')
      assert.equal(failuresOf(await store.get(circuitId, { now: harness.now() })), 2)
    },
  },
  {
    name: 'answers a retried transition as applied and moves the generation once',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      const request = opening(harness, 0, 1)
      const first = await store.transition(circuitId, request)
      assert.ok(first.applied)
      const retried = await store.transition(circuitId, request)
      assert.equal(retried.applied, true, 'the retry answers as the first application did')
      sameRecord(retried.record, first.record, harness, 'the retry’s record')
      await storedIs(other, circuitId, first.record, harness, 'record after the retry')
      // Once the circuit has moved on, the retry is a stale write: it changes nothing.
      await harness.advance(5)
      const probing = await other.transition(circuitId, halfOpening(harness, 1))
      assert.ok(probing.applied)
      const late = await store.transition(circuitId, request)
      assert.equal(late.applied, false, 'a retry after a later generation does not apply')
      sameRecord(late.record, probing.record, harness, 'the late retry’s record')
      // Both copies in flight at once: both answer applied, the generation moves once.
      const racingId = newCircuitId()
      await store.addFailure(racingId, failure(harness, 0))
      const racing = opening(harness, 0)
      const outcomes = await Promise.all([store.transition(racingId, racing), other.transition(racingId, racing)])
      assert.deepEqual(
        outcomes.map((outcome) => outcome.applied),
        [true, true],
      )
      for (const outcome of outcomes) assert.equal(outcome.record.generation, 1)
      assert.equal((await store.get(racingId, { now: harness.now() }))?.generation, 1)
    },
  },
  {
    name: 'returns the same lease to a retried acquireProbe without taking a second slot',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness)
      const claim = probeClaim(harness, record.generation, 3)
      const first = await store.acquireProbe(circuitId, claim)
      assert.equal(first.lease?.slot, 1)
      const retried = await store.acquireProbe(circuitId, claim)
      sameRecord(retried.lease, first.lease, harness, 'the retry’s lease')
      sameRecord(retried.record, first.record, harness, 'the retry’s record')
      const next = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 3))
      assert.equal(next.lease?.slot, 2, 'the retry took no slot of its own')
      expectState(next.record, CircuitState.HALF_OPEN)
      assert.equal(next.record.probes.length, 3)
      // Both copies in flight at once take one slot between them.
      const racingId = newCircuitId()
      const racingCircuit = await halfOpenCircuit(store, racingId, harness)
      const racing = probeClaim(harness, racingCircuit.record.generation, 3)
      const answers = await Promise.all([store.acquireProbe(racingId, racing), other.acquireProbe(racingId, racing)])
      assert.deepEqual(
        answers.map((answer) => answer.lease?.slot),
        [1, 1],
      )
      const after = await store.get(racingId, { now: harness.now() })
      expectState(after, CircuitState.HALF_OPEN)
      assert.equal(after.probes.length, 2)
    },
  },
  {
    name: 'counts a retried probe completion once',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const second = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 2))
      assert.ok(second.lease)
      const succeeded = probeDone(harness, record.generation, token, true)
      const first = await store.completeProbe(circuitId, succeeded)
      expectState(first, CircuitState.HALF_OPEN)
      assert.equal(first.successes, 1)
      sameRecord(await store.completeProbe(circuitId, succeeded), first, harness, 'the retry’s answer')
      const failed = probeDone(harness, record.generation, second.lease.token, false)
      const released = await other.completeProbe(circuitId, failed)
      sameRecord(await other.completeProbe(circuitId, failed), released, harness, 'the retried failure’s answer')
      const late = await store.completeProbe(circuitId, succeeded)
      expectState(late, CircuitState.HALF_OPEN)
      assert.equal(late.successes, 1, 'a success retried after another completion still counts once')
      assert.equal(late.probes.length, 0)
    },
  },
  {
    name: 'starts one generation for a retried override',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const set = { ...write(harness), forced: { state: CircuitState.OPEN, reason: 'drill', durationMs: OPEN_FOR } }
      const first = await store.setForced(circuitId, set)
      await harness.advance(20)
      sameRecord(await store.setForced(circuitId, set), first, harness, 'the retry’s answer')
      await storedIs(other, circuitId, first, harness, 'record after the retry')
      const clear = write(harness)
      const cleared = await other.setForced(circuitId, clear)
      assert.equal(cleared.generation, first.generation + 1)
      sameRecord(await other.setForced(circuitId, clear), cleared, harness, 'the retried clear’s answer')
      const counted = await store.addFailure(circuitId, failure(harness, cleared.generation))
      const late = await other.setForced(circuitId, clear)
      sameRecord(late, counted, harness, 'a clear retried after a failure changes nothing')
    },
  },
  {
    name: 'starts one generation for a retried reset',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness)
      const request = write(harness)
      const first = await store.reset(circuitId, request)
      assert.equal(first.generation, open.generation + 1)
      sameRecord(await store.reset(circuitId, request), first, harness, 'the retry’s answer')
      const counted = await other.addFailure(circuitId, failure(harness, first.generation))
      assert.equal(failuresOf(counted), 1)
      sameRecord(await store.reset(circuitId, request), counted, harness, 'a reset retried after a failure')
    },
  },
  {
    name: 'starts one generation per circuit for a retried batch override',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const existing = newCircuitId()
      await openCircuit(store, existing, harness)
      const circuitIds = [existing, newCircuitId(), newCircuitId()]
      const entries = circuitIds.map((circuitId) => ({
        circuitId,
        forced: { state: CircuitState.OPEN, reason: 'drill', durationMs: OPEN_FOR },
      }))
      const request = write(harness)
      await store.setMany(entries, request)
      const first = await other.getMany(circuitIds, { now: harness.now() })
      assert.deepEqual(
        circuitIds.map((circuitId) => first.get(circuitId)?.generation),
        [2, 1, 1],
      )
      for (const record of first.values()) assert.equal(record.changedBy, request.opId)
      await harness.advance(20)
      await store.setMany(entries, request)
      const again = await other.getMany(circuitIds, { now: harness.now() })
      for (const circuitId of circuitIds) {
        sameRecord(again.get(circuitId), first.get(circuitId), harness, `${circuitId} after the retry`)
      }
    },
  },
]

/** Cases on operators' writes: actors, the history, conditional clears, shadow overrides. */
const operatorCases: readonly ConformanceCase[] = [
  {
    name: 'keeps who set an override and why, and records each operator action in the history',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const forced = await store.setForced(circuitId, {
        ...write(harness),
        forced: { state: CircuitState.OPEN, reason: 'INC-7 provider down', durationMs: OPEN_FOR, actor: 'alice' },
      })
      assert.equal(forced.forced?.actor, 'alice')
      assert.equal(forced.forced?.reason, 'INC-7 provider down')
      near(forced.forced?.until ?? 0, (forced.forced?.since ?? 0) + OPEN_FOR, harness, 'forced.until')
      await other.setForced(circuitId, { ...write(harness), actor: 'bob', reason: 'recovered' })
      await store.setShadow(circuitId, {
        ...write(harness),
        shadow: { actor: 'carol', reason: 'tuning', durationMs: OPEN_FOR },
      })
      const reset = await other.reset(circuitId, { ...write(harness), actor: 'dave' })
      const history = reset.history ?? []
      assert.deepEqual(
        history.map((entry) => [entry.action, entry.actor, entry.reason]),
        [
          [HistoryAction.FORCE_OPEN, 'alice', 'INC-7 provider down'],
          [HistoryAction.CLEAR, 'bob', 'recovered'],
          [HistoryAction.SHADOW_ON, 'carol', 'tuning'],
          [HistoryAction.RESET, 'dave', undefined],
        ],
      )
      near(history[0]?.until ?? 0, (history[0]?.at ?? 0) + OPEN_FOR, harness, 'the force-open entry’s until')
      assert.equal(reset.forced, undefined, 'a reset removes the forced state')
      assert.equal(reset.shadow?.actor, 'carol', 'a reset keeps the shadow override')
      sameRecord(await store.get(circuitId, { now: harness.now() }), reset, harness, 'the record read back')
    },
  },
  {
    name: 'keeps the history and the shadow override through transitions, and the newest entries only',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.setShadow(circuitId, { ...write(harness), shadow: { actor: 'ops' } })
      const since = (await store.get(circuitId, { now: harness.now() }))?.generation ?? 0
      await store.addFailure(circuitId, failure(harness, since))
      const opened = await store.transition(circuitId, opening(harness, since))
      assert.ok(opened.applied)
      assert.equal(opened.record.shadow?.actor, 'ops', 'a transition keeps the shadow override')
      assert.equal(opened.record.history?.length, 1, 'a transition keeps the history')
      for (let index = 0; index < MAX_HISTORY + 2; index++) {
        await store.setForced(circuitId, { ...write(harness), actor: `operator-${index}` })
      }
      const record = await store.get(circuitId, { now: harness.now() })
      const actors = (record?.history ?? []).map((entry) => entry.actor)
      assert.equal(actors.length, MAX_HISTORY)
      assert.equal(actors.at(-1), `operator-${MAX_HISTORY + 1}`)
      assert.equal(actors[0], 'operator-2', 'the oldest entries rolled off')
      const off = await store.setShadow(circuitId, { ...write(harness), actor: 'ops' })
      assert.equal(off.shadow, undefined)
      assert.equal(off.history?.at(-1)?.action, HistoryAction.SHADOW_OFF)
    },
  },
  {
    name: 'adds one history entry for a retried operator write',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const request = { ...write(harness), forced: { state: CircuitState.CLOSED, actor: 'alice' } }
      const first = await store.setForced(circuitId, request)
      const again = await store.setForced(circuitId, request)
      sameRecord(again, first, harness, 'the retry’s answer')
      assert.equal(again.history?.length, 1)
      const shadow = { ...write(harness), shadow: { actor: 'alice' } }
      await store.setShadow(circuitId, shadow)
      const shadowAgain = await store.setShadow(circuitId, shadow)
      assert.equal(shadowAgain.history?.length, 2)
    },
  },
  {
    name: 'clears an override only for the actor that set it, when asked to',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const set = await store.setForced(circuitId, {
        ...write(harness),
        forced: { state: CircuitState.OPEN, actor: 'alarm:errors', reason: 'ALARM' },
      })
      const wrongActor = { ...write(harness), actor: 'alarm:latency', onlyIfActor: 'alarm:latency' }
      const refused = await other.setForced(circuitId, wrongActor)
      sameRecord(refused, set, harness, 'a clear limited to another actor changes nothing')
      assert.notEqual(refused.changedBy, wrongActor.opId)
      const own = { ...write(harness), actor: 'alarm:errors', onlyIfActor: 'alarm:errors' }
      const cleared = await other.setForced(circuitId, own)
      assert.equal(cleared.changedBy, own.opId)
      assert.equal(cleared.forced, undefined)
      const none = await store.setForced(circuitId, { ...write(harness), onlyIfActor: 'alarm:errors' })
      sameRecord(none, cleared, harness, 'with no override left, a limited clear changes nothing')
    },
  },
  {
    name: 'sets an override limited to an actor, or no override in force, only there (orNoOverride)',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const alarm = () => ({
        ...write(harness),
        forced: { state: CircuitState.OPEN, actor: 'alarm:errors', reason: 'ALARM' },
        onlyIfActor: 'alarm:errors',
        orNoOverride: true,
      })
      const first = alarm()
      assert.equal((await store.setForced(circuitId, first)).changedBy, first.opId, 'applies where there is none')
      const renewed = alarm()
      assert.equal((await other.setForced(circuitId, renewed)).changedBy, renewed.opId, 'applies over its own')
      const person = await store.setForced(circuitId, {
        ...write(harness),
        forced: { state: CircuitState.CLOSED, actor: 'alice', reason: 'false alarm' },
      })
      const refused = await other.setForced(circuitId, alarm())
      sameRecord(refused, person, harness, 'never over another actor’s override in force')
    },
  },
]

/**
 * The pages of a whole listing, `limit` circuits at most each, until the store gives no cursor;
 * with `harness`, each page is asked for at the harness's time.
 */
async function* pagesOf(store: CircuitStore, limit: number, harness?: ConformanceHarness): AsyncGenerator<ListPage> {
  let cursor: string | undefined
  let pages = 0
  do {
    const request = { limit, ...(cursor === undefined ? {} : { cursor }) }
    const page = await (harness === undefined ? store.list(request) : store.list(request, { now: harness.now() }))
    yield page
    cursor = page.cursor
    pages++
    assert.ok(pages < 100_000, 'the listing ends')
  } while (cursor !== undefined)
}

/** Cases on listing the circuits a store holds. */
const listCases: readonly ConformanceCase[] = [
  {
    name: 'lists every circuit across pages, each with its record',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const written = Array.from({ length: 7 }, () => newCircuitId())
      await Promise.all(written.map((circuitId) => store.addFailure(circuitId, failure(harness, 0))))
      await openCircuit(store, written[0] as string, harness)
      const seen = new Map<string, number>()
      for await (const page of pagesOf(other, 3, harness)) {
        for (const { circuitId, record } of page.circuits) {
          assert.equal(record.circuitId, circuitId)
          seen.set(circuitId, (seen.get(circuitId) ?? 0) + 1)
          if (written.includes(circuitId)) {
            sameRecord(record, await store.get(circuitId, { now: harness.now() }), harness, `listed ${circuitId}`)
          }
        }
      }
      for (const circuitId of written) {
        const times = seen.get(circuitId) ?? 0
        if (harness.listMayRepeat === true) assert.ok(times >= 1, `${circuitId} listed`)
        else assert.equal(times, 1, `${circuitId} listed exactly once`)
      }
    },
  },
  {
    name: 'lists no circuit that was only read, never written',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const unread = newCircuitId()
      const written = newCircuitId()
      await store.get(unread, { now: harness.now() })
      await store.getMany([unread], { now: harness.now() })
      await store.addFailure(written, failure(harness, 0))
      const listed = new Set<string>()
      for await (const page of pagesOf(store, 1_000)) {
        for (const circuit of page.circuits) listed.add(circuit.circuitId)
      }
      assert.ok(listed.has(written), 'a written circuit is listed')
      assert.ok(!listed.has(unread), 'a circuit only read is not')
    },
  },
  {
    name: 'rejects a list limit or cursor that is not valid, naming it',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      for (const limit of [0, -1, 1.5, 1_001, Number.NaN]) {
        await assert.rejects(
          store.list({ limit }),
          (error) => isInvalidConfigurationError(error) && error.option === 'limit',
        )
      }
      for (const cursor of ['', 'not a cursor', Buffer.from('"x"').toString('base64url')]) {
        await assert.rejects(
          store.list({ cursor }),
          (error) => isInvalidConfigurationError(error) && error.option === 'cursor',
          `cursor ${JSON.stringify(cursor)}`,
        )
      }
    },
  },
]

/** Cases where a writer never saw the answer to its write, and learns its fate from a later read. */
const ambiguousOutcomeCases: readonly ConformanceCase[] = [
  {
    name: 'shows a transition whose answer was lost as changedBy in later reads and answers',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, failure(harness, 0))
      const lost = opening(harness, 0)
      await store.transition(circuitId, lost)
      assert.equal((await other.get(circuitId, { now: harness.now() }))?.changedBy, lost.opId)
      const rival = await other.transition(circuitId, opening(harness, 0))
      assert.equal(rival.applied, false)
      assert.equal(rival.record.changedBy, lost.opId, 'a rival’s answer names the winner')
      const stale = await other.addFailure(circuitId, failure(harness, 0))
      assert.equal(stale.changedBy, lost.opId, 'a stale write’s answer names the winner')
    },
  },
  {
    name: 'shows a probe lease whose answer was lost among the leases in later reads',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record } = await halfOpenCircuit(store, circuitId, harness)
      const lost = probeClaim(harness, record.generation, 2)
      await store.acquireProbe(circuitId, lost)
      const read = await other.get(circuitId, { now: harness.now() })
      expectState(read, CircuitState.HALF_OPEN)
      assert.ok(
        read.probes.some((lease) => lease.token === lost.token),
        'the lost acquisition’s token holds a lease',
      )
      const refused = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 2))
      assert.equal(refused.lease, undefined)
      expectState(refused.record, CircuitState.HALF_OPEN)
      assert.ok(refused.record.probes.some((lease) => lease.token === lost.token))
    },
  },
  {
    name: 'shows counting writes whose answers were lost in recentOps of later reads and answers',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const lostFailure = failure(harness, 0)
      await store.addFailure(circuitId, lostFailure)
      const later = await other.addFailure(circuitId, failure(harness, 0))
      assert.ok(recentOpsOf(later).includes(lostFailure.opId), 'another writer’s answer names the failure')
      const read = await other.get(circuitId, { now: harness.now() })
      assert.ok(recentOpsOf(read).includes(lostFailure.opId), 'a read names the failure')
      const lostReset = success(harness, 0)
      await store.resetFailures(circuitId, lostReset)
      assert.ok(recentOpsOf(await other.get(circuitId, { now: harness.now() })).includes(lostReset.opId))
      const probeCircuit = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, probeCircuit, harness)
      const lostCompletion = probeDone(harness, record.generation, token, true)
      await store.completeProbe(probeCircuit, lostCompletion)
      const afterProbe = await other.get(probeCircuit, { now: harness.now() })
      assert.ok(recentOpsOf(afterProbe).includes(lostCompletion.opId), 'a read names the probe completion')
    },
  },
  {
    name: `names a transition whose answer was lost for ${MAX_RECENT_CHANGES} generations, however other writers moved the circuit on`,
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record: halfOpen, token } = await halfOpenCircuit(store, circuitId, harness)
      // The probe's close is applied; suppose its answer never arrived. Other writers move on.
      const lost = closingBy(harness, halfOpen.generation, token)
      await store.transition(circuitId, lost)
      await other.addFailure(circuitId, failure(harness, halfOpen.generation + 1))
      const reopened = await other.transition(circuitId, opening(harness, halfOpen.generation + 1, 1))
      assert.ok(reopened.applied, 'another writer opens the circuit again')
      assert.equal(generationMadeBy(reopened.record, lost.opId), halfOpen.generation + 1, 'its answer names the close')
      await harness.advance(5)
      const probing = await other.transition(circuitId, halfOpening(harness, reopened.record.generation))
      assert.ok(probing.applied, 'another writer enters HALF_OPEN again')
      const read = await store.get(circuitId, { now: harness.now() })
      assert.ok(read !== undefined)
      assert.equal(generationMadeBy(read, lost.opId), halfOpen.generation + 1, 'a later read names the close')
      assert.equal(generationMadeBy(read, probing.record.changedBy ?? ''), read.generation)
      const retried = await store.transition(circuitId, lost)
      assert.equal(retried.applied, false, 'the close retried after the circuit moved on is not applied again')
      assert.equal(generationMadeBy(retried.record, lost.opId), halfOpen.generation + 1, 'but its answer names it')
      // An operator's write names no transition: the list starts afresh.
      const forced = await other.setForced(circuitId, { ...write(harness), forced: { state: CircuitState.OPEN } })
      assert.equal(generationMadeBy(forced, lost.opId), undefined, 'an override forgets the transitions before it')
      assert.deepEqual(forced.recentChanges ?? [], [])
    },
  },
]

/** Cases where a record disappears (data loss, `clearMany`) while environments still remember it. */
const lostRecordCases: readonly ConformanceCase[] = [
  {
    name: 'starts a lost record again at generation 0 under a new incarnation, fencing writes for the old one',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      // A record some generations old: opened, probed and closed again.
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const closed = await store.transition(circuitId, closingBy(harness, record.generation, token))
      assert.ok(closed.applied)
      expectState(closed.record, CircuitState.CLOSED)
      const old = closed.record
      assert.ok(old.generation >= 2)
      await loseRecord(harness, other, circuitId)
      assert.equal(await store.get(circuitId, { now: harness.now() }), undefined, 'the record is gone')
      // A write fenced on the old generation neither applies nor brings a record back.
      isFresh(await store.addFailure(circuitId, failure(harness, old.generation)), circuitId, 'a fenced failure')
      assert.equal(await store.get(circuitId, { now: harness.now() }), undefined)
      // Counting starts again, in a record named after the write that created it.
      const creating = failure(harness, 0)
      const created = await other.addFailure(circuitId, creating)
      assert.equal(failuresOf(created), 1)
      assert.equal(created.generation, 0)
      assert.equal(created.incarnation, creating.opId)
      assert.notEqual(created.incarnation, old.incarnation, 'a new life of the record has a new incarnation')
      // Writes for the old generation change nothing and answer with the new record.
      sameRecord(await store.addFailure(circuitId, failure(harness, old.generation)), created, harness, 'addFailure')
      sameRecord(await store.resetFailures(circuitId, success(harness, old.generation)), created, harness, 'reset')
      const fenced = await store.transition(circuitId, opening(harness, old.generation))
      assert.equal(fenced.applied, false)
      sameRecord(fenced.record, created, harness, 'a fenced transition')
      await storedIs(other, circuitId, created, harness, 'record after the fenced writes')
      // And the new record works as any other.
      assert.equal(failuresOf(await store.addFailure(circuitId, failure(harness, 0))), 2)
      const reopened = await store.transition(circuitId, { ...opening(harness, 0), guard: { minFailures: 2 } })
      assert.ok(reopened.applied)
      assert.equal(reopened.record.generation, 1)
      assert.equal(reopened.record.incarnation, creating.opId)
    },
  },
  {
    name: 'gives a lost record re-created by an override the override’s incarnation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const old = await openCircuit(store, circuitId, harness)
      await loseRecord(harness, store, circuitId)
      const request = { ...write(harness), forced: { state: CircuitState.OPEN, reason: 'drill' } } as const
      const forced = await other.setForced(circuitId, request)
      assert.equal(forced.state, CircuitState.CLOSED)
      assert.equal(forced.generation, 1)
      assert.equal(forced.incarnation, request.opId)
      assert.notEqual(forced.incarnation, old.incarnation)
      const stale = await store.transition(circuitId, {
        ...write(harness),
        from: { state: CircuitState.OPEN, generation: old.generation },
        to: { state: CircuitState.HALF_OPEN, probe: { token: randomUUID(), leaseMs: LEASE } },
      })
      assert.equal(stale.applied, false, 'a transition for the lost record does not apply')
      sameRecord(stale.record, forced, harness, 'a fenced transition')
    },
  },
]

/**
 * Cases where concurrent writes, sent in one order, may be applied (and answered) in another: the
 * totals hold either way, and each answer says where its write fell in that order.
 */
const reorderingCases: readonly ConformanceCase[] = [
  {
    name: 'answers two concurrent failures with records consistent with the order they were applied',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      for (let round = 0; round < 6; round++) {
        const circuitId = newCircuitId()
        const a = failure(harness, 0)
        const b = failure(harness, 0)
        // Issued A then B; either may be applied first.
        const [first, second] = round % 2 === 0 ? [store, other] : [other, store]
        const pendingA = first.addFailure(circuitId, a)
        const pendingB = second.addFailure(circuitId, b)
        const [answerA, answerB] = await Promise.all([pendingA, pendingB])
        const stored = await store.get(circuitId, { now: harness.now() })
        assert.equal(failuresOf(stored), 2, 'both failures count, whatever the order')
        const [earlier, later] = failuresOf(answerA) === 1 ? [answerA, answerB] : [answerB, answerA]
        const [earlierOp, laterOp] = earlier === answerA ? [a.opId, b.opId] : [b.opId, a.opId]
        assert.equal(failuresOf(earlier), 1)
        assert.equal(failuresOf(later), 2)
        assert.deepEqual(recentOpsOf(earlier), [earlierOp], 'the earlier answer knows only its own write')
        assert.deepEqual(recentOpsOf(later), [earlierOp, laterOp], 'the later answer names both, in order')
        sameRecord(stored, later, harness, 'the stored record is the later answer')
      }
    },
  },
  {
    name: 'answers a concurrent failure and reset with records consistent with the order they were applied',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      for (let round = 0; round < 6; round++) {
        const circuitId = newCircuitId()
        await store.addFailure(circuitId, failure(harness, 0))
        await store.addFailure(circuitId, failure(harness, 0))
        const counting = failure(harness, 0)
        const clearing = success(harness, 0)
        const [first, second] = round % 2 === 0 ? [store, other] : [other, store]
        const [counted, cleared] = await Promise.all([
          first.addFailure(circuitId, counting),
          second.resetFailures(circuitId, clearing),
        ])
        assert.equal(failuresOf(cleared), 0, 'a reset of counted failures always answers with none')
        assert.ok(recentOpsOf(cleared).includes(clearing.opId))
        assert.ok(recentOpsOf(counted).includes(counting.opId))
        const stored = await store.get(circuitId, { now: harness.now() })
        if (failuresOf(counted) === 3) {
          // The failure was applied first, then the reset erased it.
          assert.equal(failuresOf(stored), 0)
          sameRecord(stored, cleared, harness, 'the stored record is the reset’s answer')
        } else {
          // The reset was applied first; the failure started a new count.
          assert.equal(failuresOf(counted), 1)
          assert.equal(failuresOf(stored), 1)
          sameRecord(stored, counted, harness, 'the stored record is the failure’s answer')
        }
      }
    },
  },
]

/** Cases on the probe-token guard and on the bound of remembered op ids. */
const guardCases: readonly ConformanceCase[] = [
  {
    name: 'refuses to decide a half-open circuit for a probe token that holds no lease',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness)
      const stranger = await store.transition(circuitId, closingBy(harness, record.generation, randomUUID()))
      assert.equal(stranger.applied, false, 'a token that never held a lease')
      sameRecord(stranger.record, record, harness, 'the refused transition’s record')
      const reopen = await store.transition(circuitId, {
        ...write(harness),
        from: { state: CircuitState.HALF_OPEN, generation: record.generation },
        guard: { probeToken: randomUUID() },
        to: { state: CircuitState.OPEN, openCount: 2, retryInMs: OPEN_FOR },
      })
      assert.equal(reopen.applied, false, 'a token that never held a lease cannot reopen either')
      // A probe that gave its lease back no longer holds one.
      const released = await store.completeProbe(circuitId, probeDone(harness, record.generation, token, false))
      expectState(released, CircuitState.HALF_OPEN)
      const late = await store.transition(circuitId, closingBy(harness, record.generation, token))
      assert.equal(late.applied, false, 'a token whose lease was given back')
      sameRecord(late.record, released, harness, 'the refused transition’s record')
      // The holder of a lease decides.
      const holder = await store.acquireProbe(circuitId, probeClaim(harness, record.generation, 1))
      assert.ok(holder.lease)
      const closed = await store.transition(circuitId, closingBy(harness, record.generation, holder.lease.token))
      assert.ok(closed.applied, 'the token holding a lease closes the circuit')
      expectState(closed.record, CircuitState.CLOSED)
    },
  },
  {
    name: 'refuses to decide a half-open circuit for a probe whose lapsed lease another probe took',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const [store, other] = await twoStores(harness)
      const circuitId = newCircuitId()
      const { record, token } = await halfOpenCircuit(store, circuitId, harness, SHORT_MS)
      await harness.advance(SHORT_MS + 50)
      const taken = await other.acquireProbe(circuitId, probeClaim(harness, record.generation, 1))
      assert.ok(taken.lease)
      const late = await store.transition(circuitId, closingBy(harness, record.generation, token))
      assert.equal(late.applied, false, 'the slow probe lost its lease')
      sameRecord(late.record, taken.record, harness, 'the refused transition’s record')
      const closed = await other.transition(circuitId, closingBy(harness, record.generation, taken.lease.token))
      assert.ok(closed.applied)
    },
  },
  {
    name: `remembers at most ${MAX_RECENT_OPS} counting writes, the newest ones, oldest first`,
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const requests = Array.from({ length: MAX_RECENT_OPS + 8 }, () => failure(harness, 0))
      let last: CircuitRecord | undefined
      for (const request of requests) {
        last = await store.addFailure(circuitId, request)
        assert.ok(recentOpsOf(last).length <= MAX_RECENT_OPS, `at most ${MAX_RECENT_OPS} op ids in an answer`)
      }
      assert.equal(failuresOf(last), requests.length)
      const stored = await store.get(circuitId, { now: harness.now() })
      const remembered = recentOpsOf(stored)
      assert.ok(remembered.length >= 1 && remembered.length <= MAX_RECENT_OPS, `remembers ${remembered.length}`)
      assert.deepEqual(
        remembered,
        requests.slice(requests.length - remembered.length).map((request) => request.opId),
        'the newest op ids, oldest first',
      )
      const newest = requests.at(-1)
      assert.ok(newest)
      assert.equal(failuresOf(await store.addFailure(circuitId, newest)), requests.length, 'the newest is recognised')
    },
  },
]

/** Counts from one environment for the rate window of a closed circuit of `generation`. */
function counts(
  harness: ConformanceHarness,
  generation: number,
  added: { calls: number; failures: number; slowCalls?: number; environment?: string },
  windowMs = LONG_WINDOW,
): AddCountsRequest {
  return { ...write(harness), generation, windowMs, slowCalls: 0, ...added }
}

function windowOf(record: CircuitRecord | undefined) {
  expectState(record, CircuitState.CLOSED)
  return {
    calls: record.calls ?? 0,
    failures: record.failures,
    slowCalls: record.slowCalls ?? 0,
    environments: [...(record.failingEnvironments ?? [])].sort(),
  }
}

const windowCases: readonly ConformanceCase[] = [
  {
    name: 'fences counting writes and transitions on the incarnation they name',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const created = await store.addFailure(circuitId, failure(harness, 0))
      const other = 'an-incarnation-that-is-gone'
      const fenced = await store.addFailure(circuitId, { ...failure(harness, 0), incarnation: other })
      assert.equal(failuresOf(fenced), 1, 'a failure of another incarnation is not counted')
      const reset = await store.resetFailures(circuitId, { ...success(harness, 0), incarnation: other })
      assert.equal(failuresOf(reset), 1, 'a success of another incarnation clears nothing')
      const rate = await store.addCounts(circuitId, {
        ...counts(harness, 0, { calls: 5, failures: 5 }),
        incarnation: other,
      })
      assert.equal(failuresOf(rate), 1, 'counts of another incarnation are not added')
      const refused = await store.transition(circuitId, {
        ...opening(harness, 0),
        from: { state: CircuitState.CLOSED, generation: 0, incarnation: other },
      })
      assert.equal(refused.applied, false, 'a transition from another incarnation does not apply')
      const own = await store.addFailure(circuitId, { ...failure(harness, 0), incarnation: created.incarnation })
      assert.equal(failuresOf(own), 2, 'a write naming the record’s own incarnation applies')
      const opened = await store.transition(circuitId, {
        ...opening(harness, 0),
        from: { state: CircuitState.CLOSED, generation: 0, incarnation: created.incarnation },
      })
      assert.equal(opened.applied, true)
    },
  },
  {
    name: 'drops the probe leases of a half-open circuit when an override starts a new generation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const open = await openCircuit(store, circuitId, harness, 0)
      const entry = await store.transition(circuitId, halfOpening(harness, open.generation))
      expectState(entry.record, CircuitState.HALF_OPEN)
      const forced = await store.setForced(circuitId, { ...write(harness), forced: { state: CircuitState.OPEN } })
      expectState(forced, CircuitState.HALF_OPEN)
      assert.deepEqual(forced.probes, [], 'no lease outlives its generation')
      assert.equal(forced.successes, 0)
      const cleared = await store.setForced(circuitId, write(harness))
      expectState(cleared, CircuitState.HALF_OPEN)
      const probe = await store.acquireProbe(circuitId, probeClaim(harness, cleared.generation, 1))
      assert.ok(probe.lease, 'the slot is free for a probe of the new generation')
    },
  },
  {
    name: 'adds concurrent counts from many environments to the rate window exactly',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const count = 20
      const environments = await stores(harness, count)
      const circuitId = newCircuitId()
      await Promise.all(
        environments.map((store, index) =>
          store.addCounts(
            circuitId,
            counts(harness, 0, { calls: 10, failures: index % 2, slowCalls: 1, environment: `env-${index}` }),
          ),
        ),
      )
      const stored = windowOf(await environments[0]?.get(circuitId, { now: harness.now() }))
      assert.deepEqual(
        { calls: stored.calls, failures: stored.failures, slowCalls: stored.slowCalls },
        { calls: 200, failures: 10, slowCalls: 20 },
      )
      // Only environments that reported failures are remembered, each once.
      const failing = Array.from({ length: count }, (_, index) => `env-${index}`).filter((_, index) => index % 2 === 1)
      assert.deepEqual(stored.environments, failing.sort())
    },
  },
  {
    name: 'starts a new rate window with the counts that arrive after the old one lapsed',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addCounts(circuitId, counts(harness, 0, { calls: 5, failures: 5, environment: 'a' }, SHORT_MS))
      await harness.advance(SHORT_MS + 50)
      const next = await store.addCounts(
        circuitId,
        counts(harness, 0, { calls: 3, failures: 1, environment: 'b' }, SHORT_MS),
      )
      assert.deepEqual(windowOf(next), { calls: 3, failures: 1, slowCalls: 0, environments: ['b'] })
    },
  },
  {
    name: 'counts a retried addCounts once, and ignores counts for another generation',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      const request = counts(harness, 0, { calls: 7, failures: 2, environment: 'a' })
      await store.addCounts(circuitId, request)
      const retried = await store.addCounts(circuitId, request)
      assert.equal(windowOf(retried).calls, 7)
      const stale = await store.addCounts(circuitId, counts(harness, 3, { calls: 100, failures: 100 }))
      assert.equal(windowOf(stale).calls, 7)
    },
  },
  {
    name: 'remembers each failing environment of a window once, and at most a bounded number',
    timeoutMs: MANY_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addFailure(circuitId, { ...failure(harness, 0), environment: 'same' })
      await store.addFailure(circuitId, { ...failure(harness, 0), environment: 'same' })
      let record = await store.get(circuitId, { now: harness.now() })
      assert.deepEqual(windowOf(record).environments, ['same'])
      for (let index = 0; index < MAX_FAILING_ENVIRONMENTS + 4; index++) {
        record = await store.addFailure(circuitId, { ...failure(harness, 0), environment: `env-${index}` })
      }
      assert.equal(windowOf(record).environments.length, MAX_FAILING_ENVIRONMENTS)
      assert.equal(windowOf(record).failures, MAX_FAILING_ENVIRONMENTS + 6)
    },
  },
  {
    name: 'opens on a rate only while the window still holds it (calls, failures, slow calls, environments)',
    timeoutMs: FEW_WRITES_MS,
    async run(harness) {
      const store = await oneStore(harness)
      const circuitId = newCircuitId()
      await store.addCounts(circuitId, counts(harness, 0, { calls: 10, failures: 6, slowCalls: 2, environment: 'a' }))
      const open = (guard: TransitionRequest['guard']) =>
        store.transition(circuitId, { ...opening(harness, 0), ...(guard === undefined ? {} : { guard }) })
      assert.equal((await open({ minCalls: 11 })).applied, false, 'too few calls')
      assert.equal((await open({ minFailures: 6, maxCalls: 9 })).applied, false, 'more calls than the rate allows')
      assert.equal((await open({ minSlowCalls: 3 })).applied, false, 'too few slow calls')
      assert.equal((await open({ minEnvironments: 2 })).applied, false, 'too few environments')
      const opened = await open({ minCalls: 10, minFailures: 6, maxCalls: 10, minSlowCalls: 2, minEnvironments: 1 })
      assert.equal(opened.applied, true)
      expectState(opened.record, CircuitState.OPEN)
    },
  },
]

/**
 * The behaviours every {@link CircuitStore} must have, independent of any test framework: each
 * case throws (through `node:assert`) when the store falls short. Besides the operations
 * themselves, cases cover the faults every store meets: writes applied twice (retries), answers
 * lost (ambiguous outcomes), records lost (data loss), answers reordered, probe-token fencing and
 * the bound on remembered op ids.
 *
 * Each case carries a generous `timeoutMs` for networked stores on a loaded machine: pass it to
 * the test framework (or the largest of them, {@link storeConformanceTimeoutMs}, for a whole table).
 *
 * @example
 * ```ts
 * import { storeConformanceCases } from '@fleet-breaker/core/testing'
 * describe('MyStore conformance', () => {
 *   for (const conformanceCase of storeConformanceCases) {
 *     it(conformanceCase.name, () => conformanceCase.run(harness()), conformanceCase.timeoutMs)
 *   }
 * })
 * ```
 */
export const storeConformanceCases: readonly ConformanceCase[] = [
  ...operationCases,
  ...operatorCases,
  ...listCases,
  ...provenanceCases,
  ...retryCases,
  ...ambiguousOutcomeCases,
  ...lostRecordCases,
  ...reorderingCases,
  ...guardCases,
  ...windowCases,
]

/**
 * The largest `timeoutMs` of {@link storeConformanceCases}: one per-test timeout that suits every
 * case, for `it.each` over the whole table.
 *
 * @example
 * ```ts
 * it.each(storeConformanceCases)('$name', (c) => c.run(harness), storeConformanceTimeoutMs)
 * ```
 */
export const storeConformanceTimeoutMs: number = Math.max(
  ...storeConformanceCases.map((conformanceCase) => conformanceCase.timeoutMs),
)
