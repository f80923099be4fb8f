import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import {
  applyAcquireProbe,
  applyAddCounts,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applyTransition,
  type CircuitRecord,
  CircuitState,
  decodeFlatRecord,
  FlatField,
  initialRecord,
  MAX_FAILING_ENVIRONMENTS,
  MAX_PROBE_SLOTS,
  MAX_RECENT_OPS,
  type OverrideRequest,
  probeExpiresField,
  probeTokenField,
  type TransitionGuard,
  type TransitionTarget,
} from '@fleet-breaker/core'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { recordingLogger } from '../../../../test-support/logger.js'
import { testRedisUrl } from '../../../../test-support/redis.js'

/*
 * The Lua scripts against core's pure functions: random sequences of operations run on Redis, and
 * after each step the answer must be what the matching `apply*` function makes of the previous
 * record. Some steps send an earlier request again, op id and all, as a client re-sending a
 * command whose answer was lost would. Durations are either huge or hugely negative, so the few
 * milliseconds between the test's clock and the server's can never change an outcome; times are
 * compared within a tolerance.
 *
 * And the scripts' reading of stored data against core's decoder: random hashes, valid and not,
 * must read through the store exactly as `decodeFlatRecord` reads them.
 */

const LONG = 1_000_000_000
const LAPSED = -1_000_000_000
/** Far below the durations used (±10^9 ms), far above a round trip on a busy machine. */
const TIME_TOLERANCE_MS = 1_000
const TIME_FIELDS = new Set(['changedAt', 'windowStartedAt', 'retryAt', 'expiresAt', 'since', 'until', 'at'])

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
  fc.record({ probeToken: token }),
  fc.record(
    {
      minFailures: fc.integer({ min: 0, max: 3 }),
      minCalls: fc.integer({ min: 0, max: 6 }),
      maxCalls: fc.integer({ min: 0, max: 12 }),
      minSlowCalls: fc.integer({ min: 0, max: 2 }),
      minEnvironments: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: [] },
  ),
)

const environment = fc.option(fc.constantFrom('env-a', 'env-b', 'env-c'), { nil: undefined })
/** Which incarnation a write is fenced on: none, the record's own, or one that is gone. */
const fence = fc.constantFrom('none', 'none', 'own', 'other')

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
    arbitrary: fc.record(
      { kind: fc.constant('addFailure' as const), generationOffset, windowMs: duration, environment, fence },
      { requiredKeys: ['kind', 'generationOffset', 'windowMs', 'fence'] },
    ),
    weight: 4,
  },
  {
    arbitrary: fc.record(
      {
        kind: fc.constant('addCounts' as const),
        generationOffset,
        windowMs: duration,
        calls: fc.integer({ min: 0, max: 5 }),
        failures: fc.integer({ min: 0, max: 3 }),
        slowCalls: fc.integer({ min: 0, max: 2 }),
        environment,
        fence,
      },
      { requiredKeys: ['kind', 'generationOffset', 'windowMs', 'calls', 'failures', 'slowCalls', 'fence'] },
    ),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('resetFailures' as const), generationOffset, fence }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('transition' as const),
      generationOffset,
      // Mostly the state the circuit is in, so that transitions get a chance to apply.
      from: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: state, weight: 1 }),
      fence,
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
  // Sends one of the requests already made again, unchanged but for its clock.
  { arbitrary: fc.record({ kind: fc.constant('retry' as const), pick: fc.nat() }), weight: 5 },
)

type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never

/**
 * One sequence through every path the property checks for, run before the random ones, so that the
 * check of which paths were exercised never depends on chance.
 */
const EVERY_PATH: Operation[] = [
  { kind: 'addFailure', generationOffset: 0, windowMs: LONG, environment: 'env-a', fence: 'none' },
  { kind: 'retry', pick: 0 },
  { kind: 'addCounts', generationOffset: 0, windowMs: LONG, calls: 2, failures: 1, slowCalls: 0, fence: 'own' },
  { kind: 'retry', pick: 1 },
  { kind: 'resetFailures', generationOffset: 0, fence: 'none' },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'none',
    guard: undefined,
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs: LAPSED },
  },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'own',
    guard: { retryDue: true },
    to: { state: CircuitState.HALF_OPEN, probe: { token: 'a', leaseMs: LONG } },
  },
  { kind: 'acquireProbe', generationOffset: 0, maxProbes: 3, token: 'b', leaseMs: LONG },
  { kind: 'retry', pick: 5 },
  { kind: 'retry', pick: 4 },
  { kind: 'completeProbe', generationOffset: 0, token: 'b', success: true },
  { kind: 'retry', pick: 6 },
  { kind: 'completeProbe', generationOffset: 0, token: 'c', success: true },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'none',
    guard: { probeToken: 'a' },
    to: { state: CircuitState.CLOSED },
  },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'none',
    guard: undefined,
    to: { state: CircuitState.OPEN, openCount: 1, retryInMs: LAPSED },
  },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'none',
    guard: { retryDue: true },
    to: { state: CircuitState.HALF_OPEN, probe: { token: 'a', leaseMs: LAPSED } },
  },
  { kind: 'acquireProbe', generationOffset: 0, maxProbes: 1, token: 'c', leaseMs: LONG },
  {
    kind: 'transition',
    generationOffset: 0,
    from: undefined,
    fence: 'none',
    guard: undefined,
    to: { state: CircuitState.OPEN, openCount: 2, retryInMs: LONG },
  },
  { kind: 'setForced', forced: { state: CircuitState.OPEN, reason: 'maintenance' } },
  { kind: 'retry', pick: 13 },
  { kind: 'reset' },
  { kind: 'retry', pick: 14 },
]

/** A request as sent: what a retry sends again. */
type Sent =
  | { readonly kind: 'addFailure'; readonly request: Parameters<RedisStore['addFailure']>[1] }
  | { readonly kind: 'addCounts'; readonly request: Parameters<RedisStore['addCounts']>[1] }
  | { readonly kind: 'resetFailures'; readonly request: Parameters<RedisStore['resetFailures']>[1] }
  | { readonly kind: 'transition'; readonly request: Parameters<RedisStore['transition']>[1] }
  | { readonly kind: 'acquireProbe'; readonly request: Parameters<RedisStore['acquireProbe']>[1] }
  | { readonly kind: 'completeProbe'; readonly request: Parameters<RedisStore['completeProbe']>[1] }
  | { readonly kind: 'setForced'; readonly request: Parameters<RedisStore['setForced']>[1] }
  | { readonly kind: 'reset'; readonly request: Parameters<RedisStore['reset']>[1] }

/** How often each operation changed the record, to show the sequences reach every path. */
const changes = new Map<string, number>()

function count(name: string, before: CircuitRecord, after: CircuitRecord): void {
  if (isDeepStrictEqual(after, before)) return
  changes.set(name, (changes.get(name) ?? 0) + 1)
}

/** The `incarnation` a write names, to be fenced on it. */
function fencedOn(fence: string, current: CircuitRecord): { incarnation?: string } {
  if (fence === 'own') return { incarnation: current.incarnation }
  if (fence === 'other') return { incarnation: 'an-incarnation-that-is-gone' }
  return {}
}

/** The request `op` makes of the circuit as it stands. */
function requestFor(op: Exclude<Operation, { kind: 'retry' }>, current: CircuitRecord): Sent {
  const base = { opId: randomUUID(), now: Date.now() }
  const generation = 'generationOffset' in op ? current.generation + op.generationOffset : current.generation
  const fenced = 'fence' in op ? fencedOn(op.fence, current) : {}
  switch (op.kind) {
    case 'addFailure':
      return {
        kind: op.kind,
        request: {
          ...base,
          ...fenced,
          generation,
          windowMs: op.windowMs,
          ...(op.environment === undefined ? {} : { environment: op.environment }),
        },
      }
    case 'addCounts': {
      const { calls, failures, slowCalls, windowMs } = op
      return {
        kind: op.kind,
        request: {
          ...base,
          ...fenced,
          generation,
          windowMs,
          calls,
          failures,
          slowCalls,
          ...(op.environment === undefined ? {} : { environment: op.environment }),
        },
      }
    }
    case 'resetFailures':
      return { kind: op.kind, request: { ...base, ...fenced, generation } }
    case 'transition':
      return {
        kind: op.kind,
        request: {
          ...base,
          from: { state: op.from ?? current.state, generation, ...fenced },
          ...(op.guard === undefined ? {} : { guard: op.guard }),
          to: op.to,
        },
      }
    case 'acquireProbe':
      return {
        kind: op.kind,
        request: { ...base, generation, maxProbes: op.maxProbes, token: op.token, leaseMs: op.leaseMs },
      }
    case 'completeProbe':
      return { kind: op.kind, request: { ...base, generation, token: op.token, success: op.success } }
    case 'setForced':
      return { kind: op.kind, request: op.forced === undefined ? base : { ...base, forced: op.forced } }
    case 'reset':
      return { kind: op.kind, request: base }
  }
}

/** Sends `sent` to the store and to the pure functions; checks they agree; returns the store's record. */
async function step(store: RedisStore, circuitId: string, current: CircuitRecord, sent: Sent, label: string) {
  switch (sent.kind) {
    case 'addFailure': {
      const actual = await store.addFailure(circuitId, sent.request)
      expectSame(actual, applyAddFailure(current, sent.request))
      count(label, current, actual)
      return actual
    }
    case 'addCounts': {
      const actual = await store.addCounts(circuitId, sent.request)
      expectSame(actual, applyAddCounts(current, sent.request))
      count(label, current, actual)
      return actual
    }
    case 'resetFailures': {
      const actual = await store.resetFailures(circuitId, sent.request)
      expectSame(actual, applyResetFailures(current, sent.request))
      count(label, current, actual)
      return actual
    }
    case 'transition': {
      const actual = await store.transition(circuitId, sent.request)
      const expected = applyTransition(current, sent.request)
      expectSame(actual, expected)
      if (actual.applied && actual.record !== current) {
        count(`${label} ${current.state}->${sent.request.to.state}`, current, actual.record)
      }
      if (actual.applied && isDeepStrictEqual(expected.record, current))
        count(`${label} answered applied`, current, {
          ...current,
          generation: -1,
        })
      return actual.record
    }
    case 'acquireProbe': {
      const actual = await store.acquireProbe(circuitId, sent.request)
      const expected = applyAcquireProbe(current, sent.request)
      expectSame(actual, expected)
      if (actual.lease !== undefined) {
        const detail = isDeepStrictEqual(expected.record, current)
          ? ' held'
          : ` slot ${Math.min(actual.lease.slot, 1)}+`
        changes.set(`${label}${detail}`, (changes.get(`${label}${detail}`) ?? 0) + 1)
      }
      return actual.record
    }
    case 'completeProbe': {
      const actual = await store.completeProbe(circuitId, sent.request)
      expectSame(actual, applyCompleteProbe(current, sent.request))
      const released = current.state === CircuitState.HALF_OPEN && actual.state === CircuitState.HALF_OPEN
      count(`${label}${released && actual.probes.length < current.probes.length ? ' released' : ''}`, current, actual)
      return actual
    }
    case 'setForced': {
      const actual = await store.setForced(circuitId, sent.request)
      expectSame(actual, applySetForced(current, sent.request.forced, sent.request))
      count(label, current, actual)
      return actual
    }
    case 'reset': {
      const actual = await store.reset(circuitId, sent.request)
      expectSame(actual, applyReset(current, sent.request))
      count(label, current, actual)
      return actual
    }
  }
}

describe('RedisStore scripts', () => {
  it('agree with core’s semantics on random sequences of operations, requests sent again included', async () => {
    client = new Redis(testRedisUrl())
    // Connected before the first step, whose time is compared with the server's.
    await client.ping()
    const store = new RedisStore({ client, keyPrefix: RUN_PREFIX })
    /** Retries that changed nothing, by kind: each is a write the store recognised as applied. */
    const recognised = new Map<string, number>()
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 10, maxLength: 40, size: 'max' }), async (operations) => {
        const circuitId = randomUUID()
        let current: CircuitRecord = initialRecord(circuitId)
        const sent: Sent[] = []
        for (const op of operations) {
          if (op.kind === 'retry') {
            const earlier = sent[op.pick % Math.max(sent.length, 1)]
            if (earlier === undefined) continue
            // The same write (same op id and arguments) sent again; only its clock has moved on.
            const again = { ...earlier, request: { ...earlier.request, now: Date.now() } } as Sent
            const before = current
            current = await step(store, circuitId, current, again, `retry ${earlier.kind}`)
            if (isDeepStrictEqual(current, before)) {
              recognised.set(earlier.kind, (recognised.get(earlier.kind) ?? 0) + 1)
            }
          } else {
            const request = requestFor(op, current)
            sent.push(request)
            current = await step(store, circuitId, current, request, op.kind)
          }
          // What a later read sees is what the write answered.
          expectSame((await store.get(circuitId)) ?? initialRecord(circuitId), current)
        }
      }),
      { numRuns: 120, examples: [[EVERY_PATH]] },
    )
    // Every path was exercised, not just the ones where nothing happens.
    for (const path of [
      'addFailure',
      'addCounts',
      'resetFailures',
      'transition CLOSED->OPEN',
      'transition OPEN->HALF_OPEN',
      'transition HALF_OPEN->CLOSED',
      'transition HALF_OPEN->OPEN',
      'retry transition answered applied',
      'acquireProbe slot 0+',
      'acquireProbe slot 1+',
      'retry acquireProbe held',
      'completeProbe',
      'completeProbe released',
      'setForced',
      'reset',
    ]) {
      expect({ path, exercised: (changes.get(path) ?? 0) > 0 }).toEqual({ path, exercised: true })
    }
    for (const kind of ['addFailure', 'addCounts', 'completeProbe', 'setForced', 'reset', 'transition']) {
      expect({ kind, recognised: (recognised.get(kind) ?? 0) > 0 }).toEqual({ kind, recognised: true })
    }
  }, 180_000)
})

/*
 * Stored data read through the store against core's decoder. The store's reply is the record as
 * the script decoded (and re-encoded) it, so a difference in what either side takes as a number, a
 * count, an op id or an override shows as a different record, or a different verdict on validity.
 */

/** The fields of a flat record that hold numbers, as the store's reply reader types them. */
const NUMERIC_FIELDS: ReadonlySet<string> = new Set([
  FlatField.GENERATION,
  FlatField.OPEN_COUNT,
  FlatField.CHANGED_AT,
  FlatField.FAILURES,
  FlatField.SUCCESSES,
  FlatField.CALLS,
  FlatField.SLOW_CALLS,
  FlatField.WINDOW_STARTED_AT,
  FlatField.RETRY_AT,
  FlatField.FORCED_SINCE,
  FlatField.FORCED_UNTIL,
  ...Array.from({ length: MAX_PROBE_SLOTS }, (_, slot) => probeExpiresField(slot)),
])

/** A hash's text as flat fields: numbers where the field holds one and the text reads as one. */
function asFlatFields(hash: Readonly<Record<string, string>>): Record<string, string | number> {
  const fields: Record<string, string | number> = {}
  for (const [field, text] of Object.entries(hash)) {
    const number = /^-?\d+\.?\d*(?:[eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN
    // -0 is read as 0: the same number (===), which the server's Lua writes back without its sign.
    fields[field] = NUMERIC_FIELDS.has(field) && Number.isFinite(number) ? number + 0 : text
  }
  return fields
}

const validId = fc.constantFrom('a', 'op-1', randomUUID(), 'x'.repeat(64), '~!')
const badId = fc.constantFrom('', 'has space', 'x'.repeat(65), 'tab\there', 'é')
/** Numbers as a store writes them, mostly, and now and then text no store writes. */
const numberText = fc.oneof(
  { arbitrary: fc.constantFrom('0', '1', '3', '1e3', '9007199254740991'), weight: 15 },
  {
    arbitrary: fc.constantFrom('-1', '-0', '1.5', '2.5e-1', '9007199254740992', '1e400', 'abc', '', ' 5', '0x1', 'nan'),
    weight: 1,
  },
)
const timeText = fc.oneof(numberText, fc.constant(String(Date.now() + 60_000)))
const recentOpsText = fc.oneof(
  fc.array(fc.oneof(validId, badId), { maxLength: 5 }).map((ids) => ids.join(' ')),
  fc.array(fc.uuid(), { minLength: MAX_RECENT_OPS - 2, maxLength: MAX_RECENT_OPS + 6 }).map((ids) => ids.join(' ')),
  fc.constantFrom('  a  b ', ' ', ''),
)

const storedHash: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      [FlatField.STATE]: fc.constantFrom(
        CircuitState.CLOSED,
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        'BROKEN',
        'é"\\',
      ),
      [FlatField.GENERATION]: numberText,
      [FlatField.OPEN_COUNT]: numberText,
      [FlatField.CHANGED_AT]: timeText,
      [FlatField.FAILURES]: numberText,
      [FlatField.WINDOW_STARTED_AT]: timeText,
      [FlatField.RETRY_AT]: timeText,
      [FlatField.SUCCESSES]: numberText,
      [FlatField.CALLS]: numberText,
      [FlatField.SLOW_CALLS]: numberText,
      [FlatField.FAILING_ENVIRONMENTS]: fc.oneof(
        recentOpsText,
        fc
          .array(fc.constantFrom('env-a', 'env-b', 'env-c', 'env-d'), { maxLength: MAX_FAILING_ENVIRONMENTS + 4 })
          .map((ids) => ids.join(' ')),
      ),
      [FlatField.INCARNATION]: fc.oneof({ arbitrary: validId, weight: 6 }, { arbitrary: badId, weight: 1 }),
      [FlatField.CHANGED_BY]: fc.oneof(validId, badId),
      [FlatField.RECENT_OPS]: recentOpsText,
      [FlatField.FORCED_STATE]: fc.constantFrom(CircuitState.OPEN, CircuitState.CLOSED, 'SIDEWAYS'),
      [FlatField.FORCED_SINCE]: timeText,
      [FlatField.FORCED_UNTIL]: timeText,
      [FlatField.FORCED_REASON]: fc.constantFrom('', 'maintenance'),
      [probeTokenField(0)]: fc.constantFrom('p0', ''),
      [probeExpiresField(0)]: timeText,
      [probeTokenField(2)]: fc.constant('p2'),
      [probeExpiresField(2)]: timeText,
    },
    // The common fields always, so that valid records come up as well as invalid ones.
    { requiredKeys: [FlatField.STATE, FlatField.GENERATION, FlatField.OPEN_COUNT, FlatField.CHANGED_AT] },
  )
  // Fields left out are absent, not undefined.
  .map((fields) => {
    const hash: Record<string, string> = {}
    for (const [field, value] of Object.entries(fields)) if (value !== undefined) hash[field] = value
    return hash
  })

describe('RedisStore reading stored data', () => {
  it('reads any hash exactly as core’s decoder does, valid or not', async () => {
    client ??= new Redis(testRedisUrl())
    const redis = client
    let valid = 0
    let invalid = 0
    await fc.assert(
      fc.asyncProperty(storedHash, async (hash) => {
        const logger = recordingLogger()
        const store = new RedisStore({ client: redis, keyPrefix: RUN_PREFIX, logger })
        const circuitId = randomUUID()
        await redis.hset(store.keyFor(circuitId), hash)
        const expected = decodeFlatRecord(circuitId, asFlatFields(hash))
        const actual = await store.get(circuitId, { now: Date.now() })
        expect(actual).toEqual(expected.record)
        const warnings = logger.at('warn').map((entry) => entry.details?.reason)
        expect(warnings).toEqual(expected.valid ? [] : [expected.reason])
        if (expected.valid) valid++
        else invalid++
      }),
      { numRuns: 400 },
    )
    // Both verdicts came up often enough to mean something.
    expect(valid).toBeGreaterThan(20)
    expect(invalid).toBeGreaterThan(20)
  }, 120_000)
})
