import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import {
  applyAcquireProbe,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applyTransition,
  type CircuitRecord,
  CircuitState,
  initialRecord,
  type OverrideRequest,
  type TransitionGuard,
  type TransitionTarget,
} from '@fleet-breaker/core'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { testRedisUrl } from '../../../../test-support/redis.js'

/*
 * The Lua scripts against core's pure functions: random sequences of operations run on Redis, and
 * after each step the answer must be what the matching `apply*` function makes of the previous
 * record. Durations are either huge or hugely negative, so the few milliseconds between the test's
 * clock and the server's can never change an outcome; times are compared within a tolerance.
 */

const LONG = 1_000_000_000
const LAPSED = -1_000_000_000
const TIME_TOLERANCE_MS = 50
const TIME_FIELDS = new Set(['changedAt', 'windowStartedAt', 'retryAt', 'expiresAt', 'since', 'until'])

const RUN_PREFIX = `fleet-breaker-test:semantics:${randomUUID()}:`
let client: Redis | undefined

afterAll(async () => {
  if (client === undefined) return
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 1_000)
    if (keys.length > 0) await client.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
  await client.quit()
})

/** Equal records, but for times a few milliseconds apart. */
function expectSame(actual: unknown, expected: unknown, path = 'record'): void {
  if (typeof expected === 'object' && expected !== null) {
    expect(typeof actual).toBe('object')
    const actualFields = actual as Record<string, unknown>
    const expectedFields = expected as Record<string, unknown>
    expect({ path, keys: Object.keys(actualFields).sort() }).toEqual({ path, keys: Object.keys(expectedFields).sort() })
    for (const [key, value] of Object.entries(expectedFields)) {
      if (TIME_FIELDS.has(key) && typeof value === 'number' && value !== 0) {
        const difference = Math.abs((actualFields[key] as number) - value)
        expect({ path: `${path}.${key}`, withinTolerance: difference <= TIME_TOLERANCE_MS }).toEqual({
          path: `${path}.${key}`,
          withinTolerance: true,
        })
      } else {
        expectSame(actualFields[key], value, `${path}.${key}`)
      }
    }
    return
  }
  expect({ path, value: actual }).toEqual({ path, value: expected })
}

const duration = fc.constantFrom(LONG, LAPSED)
const token = fc.constantFrom('a', 'b', 'c')
const state = fc.constantFrom(CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN)
/** Aimed at the current generation most of the time, else at a neighbouring one. */
const generationOffset = fc.constantFrom(0, 0, 0, 0, -1, 1)

const target: fc.Arbitrary<TransitionTarget> = fc.oneof(
  fc.record({
    state: fc.constant(CircuitState.OPEN),
    openCount: fc.integer({ min: 0, max: 5 }),
    retryInMs: duration,
  }),
  fc.record({
    state: fc.constant(CircuitState.HALF_OPEN),
    probe: fc.record({ token, leaseMs: duration }),
  }),
  fc.record({ state: fc.constant(CircuitState.CLOSED) }),
)

const guard: fc.Arbitrary<TransitionGuard | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.record({ minFailures: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ minSuccesses: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ retryDue: fc.boolean() }),
)

const override: fc.Arbitrary<OverrideRequest | undefined> = fc.option(
  fc.record(
    {
      state: fc.constantFrom(CircuitState.OPEN, CircuitState.CLOSED),
      reason: fc.constantFrom('', 'maintenance', 'état 🛠'),
      durationMs: duration,
    },
    { requiredKeys: ['state'] },
  ),
  { nil: undefined },
)

const operation = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constant('addFailure' as const), generationOffset, windowMs: duration }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('resetFailures' as const), generationOffset }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('transition' as const),
      generationOffset,
      // Mostly the state the circuit is in, so that transitions get a chance to apply.
      from: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: state, weight: 1 }),
      guard,
      to: target,
    }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('acquireProbe' as const),
      generationOffset,
      maxProbes: fc.integer({ min: 1, max: 4 }),
      token,
      leaseMs: duration,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('completeProbe' as const),
      generationOffset,
      token,
      success: fc.boolean(),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('setForced' as const), forced: override }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('reset' as const) }), weight: 1 },
)

type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never

/** How often each operation changed the record, to show the sequences reach every path. */
const changes = new Map<string, number>()

function count(op: Operation, before: CircuitRecord, after: CircuitRecord, detail = ''): void {
  if (isDeepStrictEqual(after, before)) return
  const name = `${op.kind}${detail}`
  changes.set(name, (changes.get(name) ?? 0) + 1)
}

/** Runs `op` on the store and on the pure functions; checks they agree; returns the store's record. */
async function step(store: RedisStore, circuitId: string, current: CircuitRecord, op: Operation) {
  const now = Date.now()
  switch (op.kind) {
    case 'addFailure': {
      const request = { generation: current.generation + op.generationOffset, now, windowMs: op.windowMs }
      const actual = await store.addFailure(circuitId, request)
      expectSame(actual, applyAddFailure(current, request))
      count(op, current, actual)
      return actual
    }
    case 'resetFailures': {
      const request = { generation: current.generation + op.generationOffset, now }
      const actual = await store.resetFailures(circuitId, request)
      expectSame(actual, applyResetFailures(current, request))
      count(op, current, actual)
      return actual
    }
    case 'transition': {
      const request = {
        from: { state: op.from ?? current.state, generation: current.generation + op.generationOffset },
        ...(op.guard === undefined ? {} : { guard: op.guard }),
        to: op.to,
        now,
      }
      const actual = await store.transition(circuitId, request)
      expectSame(actual, applyTransition(current, request))
      if (actual.applied) count(op, current, actual.record, ` ${current.state}->${op.to.state}`)
      return actual.record
    }
    case 'acquireProbe': {
      const { maxProbes, token, leaseMs } = op
      const request = { generation: current.generation + op.generationOffset, maxProbes, token, leaseMs, now }
      const actual = await store.acquireProbe(circuitId, request)
      expectSame(actual, applyAcquireProbe(current, request))
      count(op, current, actual.record, actual.lease === undefined ? '' : ` slot ${Math.min(actual.lease.slot, 1)}+`)
      return actual.record
    }
    case 'completeProbe': {
      const request = {
        generation: current.generation + op.generationOffset,
        token: op.token,
        success: op.success,
        now,
      }
      const actual = await store.completeProbe(circuitId, request)
      expectSame(actual, applyCompleteProbe(current, request))
      const released = current.state === CircuitState.HALF_OPEN && actual.state === CircuitState.HALF_OPEN
      count(op, current, actual, released && actual.probes.length < current.probes.length ? ' released' : '')
      return actual
    }
    case 'setForced': {
      const actual = await store.setForced(circuitId, op.forced === undefined ? { now } : { forced: op.forced, now })
      expectSame(actual, applySetForced(current, op.forced, now))
      count(op, current, actual)
      return actual
    }
    case 'reset': {
      const actual = await store.reset(circuitId, { now })
      expectSame(actual, applyReset(current, { now }))
      count(op, current, actual)
      return actual
    }
  }
}

describe('RedisStore scripts', () => {
  it('agree with core’s semantics on random sequences of operations', async () => {
    client = new Redis(testRedisUrl())
    const store = new RedisStore({ client, keyPrefix: RUN_PREFIX })
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 10, maxLength: 40, size: 'max' }), async (operations) => {
        const circuitId = randomUUID()
        let current: CircuitRecord = initialRecord(circuitId)
        for (const op of operations) {
          current = await step(store, circuitId, current, op)
          // What a later read sees is what the write answered.
          expectSame((await store.get(circuitId)) ?? initialRecord(circuitId), current)
        }
      }),
      { numRuns: 150 },
    )
    // Every path was exercised, not just the ones where nothing happens.
    for (const path of [
      'addFailure',
      'resetFailures',
      'transition CLOSED->OPEN',
      'transition OPEN->HALF_OPEN',
      'transition HALF_OPEN->CLOSED',
      'transition HALF_OPEN->OPEN',
      'acquireProbe slot 0+',
      'acquireProbe slot 1+',
      'completeProbe',
      'completeProbe released',
      'setForced',
      'reset',
    ]) {
      expect({ path, exercised: (changes.get(path) ?? 0) > 0 }).toEqual({ path, exercised: true })
    }
  }, 30_000)
})
