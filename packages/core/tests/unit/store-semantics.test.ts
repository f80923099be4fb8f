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
  type ClosedRecord,
  freeProbeSlot,
  generationMadeBy,
  type HalfOpenRecord,
  hasApplied,
  holdsLease,
  initialRecord,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  type OpenRecord,
  overrideAt,
  type TransitionRequest,
  windowIsOpen,
  withRecentOp,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'

/*
 * The reference meaning of the store operations (semantics.ts), exercised as pure functions: every
 * store is held to the same rules by the conformance suite, so these are the rules themselves.
 */

const WINDOW = 1_000
const ID = 'payment-api'

function closed(fields: Partial<ClosedRecord> = {}): ClosedRecord {
  return { ...initialRecord(ID), incarnation: 'born', ...fields }
}

function open(fields: Partial<OpenRecord> = {}): OpenRecord {
  return {
    circuitId: ID,
    incarnation: 'born',
    state: CircuitState.OPEN,
    generation: 1,
    openCount: 1,
    changedAt: 100,
    retryAt: 1_100,
    ...fields,
  }
}

function halfOpen(fields: Partial<HalfOpenRecord> = {}): HalfOpenRecord {
  return {
    circuitId: ID,
    incarnation: 'born',
    state: CircuitState.HALF_OPEN,
    generation: 2,
    openCount: 1,
    changedAt: 1_200,
    successes: 0,
    probes: [{ slot: 0, token: 'first-probe', expiresAt: 2_000 }],
    ...fields,
  }
}

const failure = (opId: string, generation: number, now: number) => ({ opId, generation, now, windowMs: WINDOW })

const opening = (opId: string, generation: number, now = 500): TransitionRequest => ({
  opId,
  now,
  from: { state: CircuitState.CLOSED, generation },
  guard: { minFailures: 1 },
  to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 1_000 },
})

const closing = (opId: string, generation: number, probeToken: string, now = 1_500): TransitionRequest => ({
  opId,
  now,
  from: { state: CircuitState.HALF_OPEN, generation },
  guard: { probeToken },
  to: { state: CircuitState.CLOSED },
})

describe('remembered op ids', () => {
  it('adds an op id at the end and keeps the newest MAX_RECENT_OPS, leaving the record as it was', () => {
    const ids = Array.from({ length: MAX_RECENT_OPS }, (_, index) => `op-${index}`)
    const record = closed({ recentOps: ids })
    const next = withRecentOp(record, 'op-new')
    expect(next).toHaveLength(MAX_RECENT_OPS)
    expect(next[0]).toBe('op-1')
    expect(next.at(-1)).toBe('op-new')
    expect(record.recentOps).toEqual(ids)
  })

  it('starts a list for a record that remembers none', () => {
    expect(withRecentOp(closed(), 'op-1')).toEqual(['op-1'])
    expect(hasApplied(closed(), 'op-1')).toBe(false)
    expect(hasApplied(closed({ recentOps: ['op-1'] }), 'op-1')).toBe(true)
  })
})

describe('applyAddFailure', () => {
  it('creates a record for a circuit the store holds nothing for, named after the failure', () => {
    expect(applyAddFailure(initialRecord(ID), failure('op-1', 0, 100))).toEqual({
      ...initialRecord(ID),
      incarnation: 'op-1',
      failures: 1,
      windowStartedAt: 100,
      recentOps: ['op-1'],
    })
  })

  it('counts a failure into the open window and remembers its op id, keeping the incarnation', () => {
    const record = closed({ failures: 1, windowStartedAt: 100, recentOps: ['op-1'] })
    expect(applyAddFailure(record, failure('op-2', 0, 200))).toEqual({
      ...record,
      failures: 2,
      recentOps: ['op-1', 'op-2'],
    })
  })

  it('starts a new window with a count of one when the old window has lapsed', () => {
    const record = closed({ failures: 3, windowStartedAt: 100, recentOps: ['op-1'] })
    const next = applyAddFailure(record, failure('op-2', 0, 100 + WINDOW))
    expect(next).toMatchObject({ failures: 1, windowStartedAt: 100 + WINDOW })
    expect(next.recentOps).toContain('op-2')
  })

  it.each([
    ['a failure already counted', closed({ failures: 1, windowStartedAt: 100, recentOps: ['op-1'] }), 0],
    ['another generation', closed({ failures: 1, windowStartedAt: 100 }), 1],
    ['a circuit that is no longer closed', open(), 1],
  ])('changes nothing for %s', (_case, record, generation) => {
    expect(applyAddFailure(record, failure('op-1', generation, 200))).toBe(record)
  })

  it(`counts every failure but remembers only the newest ${MAX_RECENT_OPS}`, () => {
    let record: CircuitRecord = initialRecord(ID)
    const ids = Array.from({ length: MAX_RECENT_OPS + 8 }, (_, index) => `op-${index}`)
    for (const opId of ids) record = applyAddFailure(record, failure(opId, 0, 100))
    expect(record).toMatchObject({ failures: ids.length, recentOps: ids.slice(-MAX_RECENT_OPS) })
    expect(applyAddFailure(record, failure(ids.at(-1) ?? '', 0, 100))).toBe(record)
  })

  it('does not count a failure again when it is retried after its window lapsed', () => {
    const first = failure('op-1', 0, 100)
    const counted = applyAddFailure(initialRecord(ID), first)
    const nextWindow = applyAddFailure(counted, failure('op-2', 0, 100 + WINDOW))
    expect(applyAddFailure(nextWindow, first)).toBe(nextWindow)
  })
})

describe('applyResetFailures', () => {
  const reset = (opId: string, generation = 0) => ({ opId, generation, now: 300 })

  it('sets the count back to zero, ends the window and remembers its op id', () => {
    const record = closed({ failures: 2, windowStartedAt: 100, recentOps: ['op-1', 'op-2'] })
    const next = applyResetFailures(record, reset('op-3'))
    expect(next).toMatchObject({ failures: 0, incarnation: 'born' })
    expect(next).not.toHaveProperty('windowStartedAt')
    expect(next.recentOps).toContain('op-3')
  })

  it.each([
    ['no failures to reset', closed(), 0],
    ['another generation', closed({ failures: 2, windowStartedAt: 100 }), 1],
    ['a circuit that is no longer closed', open(), 1],
  ])('changes nothing for %s', (_case, record, generation) => {
    expect(applyResetFailures(record, reset('op-9', generation))).toBe(record)
  })

  it('never lets a retried reset erase failures counted after it', () => {
    const request = reset('op-reset')
    let record: CircuitRecord = closed({ failures: 2, windowStartedAt: 100, recentOps: ['op-1', 'op-2'] })
    record = applyResetFailures(record, request)
    record = applyAddFailure(record, failure('op-3', 0, 400))
    expect(record).toMatchObject({ failures: 1 })
    expect(applyResetFailures(record, request)).toBe(record)
  })

  it('does not count a failure again when it is retried after the count was reset', () => {
    const first = failure('op-1', 0, 100)
    const counted = applyAddFailure(closed(), first)
    const cleared = applyResetFailures(counted, reset('op-reset'))
    expect(applyAddFailure(cleared, first)).toBe(cleared)
  })
})

describe('applyTransition', () => {
  it('starts a generation named after the transition, forgetting the counting writes before it', () => {
    const record = closed({ failures: 3, windowStartedAt: 100, recentOps: ['op-1', 'op-2', 'op-3'] })
    const outcome = applyTransition(record, opening('op-open', 0))
    expect(outcome).toEqual({
      applied: true,
      record: {
        circuitId: ID,
        incarnation: 'born',
        state: CircuitState.OPEN,
        generation: 1,
        openCount: 1,
        changedAt: 500,
        changedBy: 'op-open',
        recentChanges: ['op-open'],
        retryAt: 1_500,
      },
    })
  })

  it('names the transitions of the last generations, oldest first, so a writer whose answer was lost finds its own', () => {
    const probing = (opId: string, generation: number): TransitionRequest => ({
      opId,
      now: 10_000 * generation,
      from: { state: CircuitState.OPEN, generation },
      guard: { retryDue: true },
      to: { state: CircuitState.HALF_OPEN, probe: { token: opId, leaseMs: 300 } },
    })
    const reopening = (opId: string, generation: number): TransitionRequest => ({
      opId,
      now: 10_000 * generation,
      from: { state: CircuitState.HALF_OPEN, generation },
      to: { state: CircuitState.OPEN, openCount: 2, retryInMs: 1_000 },
    })
    let record: CircuitRecord = applyTransition(closed({ failures: 1 }), opening('op-1', 0)).record
    record = applyTransition(record, probing('op-2', 1)).record
    record = applyTransition(record, reopening('op-3', 2)).record
    expect(record.recentChanges).toEqual(['op-1', 'op-2', 'op-3'])
    expect(generationMadeBy(record, 'op-1')).toBe(1)
    expect(generationMadeBy(record, 'op-3')).toBe(3)
    // Open and half-open in turn until one more generation than the list keeps.
    for (let generation = 3; generation <= MAX_RECENT_CHANGES; generation++) {
      const next = generation % 2 === 1 ? probing : reopening
      record = applyTransition(record, next(`op-${generation + 1}`, generation)).record
    }
    expect(record.generation).toBe(MAX_RECENT_CHANGES + 1)
    expect(record.recentChanges).toEqual(Array.from({ length: MAX_RECENT_CHANGES }, (_, index) => `op-${index + 2}`))
    expect(generationMadeBy(record, 'op-1')).toBeUndefined()
    expect(generationMadeBy(record, 'op-2')).toBe(2)
    // The request retried after the circuit moved on is refused, but the record still names it.
    expect(applyTransition(record, probing('op-2', 1))).toEqual({ applied: false, record })
  })

  it('starts the list afresh after an operator’s write, which names no transition', () => {
    const opened = applyTransition(closed({ failures: 1 }), opening('op-open', 0)).record
    const forced = applySetForced(opened, { state: CircuitState.CLOSED }, { opId: 'op-force', now: 600 })
    expect(forced.recentChanges).toBeUndefined()
    expect(generationMadeBy(forced, 'op-open')).toBeUndefined()
    expect(generationMadeBy(forced, 'op-force')).toBe(forced.generation)
    const reset = applyReset(opened, { opId: 'op-reset', now: 600 })
    expect(reset.recentChanges).toBeUndefined()
    const reopened = applyTransition(
      { ...(reset as ClosedRecord), failures: 1 },
      opening('op-again', reset.generation),
    ).record
    expect(reopened.recentChanges).toEqual(['op-again'])
  })

  it('names a record it creates after itself, and keeps an override through the transition', () => {
    const fresh = applyTransition(initialRecord(ID), { ...opening('op-open', 0), guard: {} })
    expect(fresh.record).toMatchObject({ incarnation: 'op-open', changedBy: 'op-open', generation: 1 })
    const forced = { state: CircuitState.OPEN, since: 10 } as const
    const kept = applyTransition(closed({ failures: 1, forced }), opening('op-open', 0))
    expect(kept.record.forced).toEqual(forced)
  })

  it('answers a retry as applied with the record it produced, changing nothing', () => {
    const request = opening('op-open', 0)
    const { record } = applyTransition(closed({ failures: 1 }), request)
    const retried = applyTransition(record, request)
    expect(retried.applied).toBe(true)
    expect(retried.record).toBe(record)
  })

  it('does not apply a retry that arrives after a later generation started', () => {
    const request = opening('op-open', 0)
    const opened = applyTransition(closed({ failures: 1 }), request).record
    const reset = applyReset(opened, { opId: 'op-reset', now: 600 })
    const retried = applyTransition(reset, request)
    expect(retried).toEqual({ applied: false, record: reset })
    expect(retried.record).toBe(reset)
  })

  it('enters HALF_OPEN holding slot 0 for the probe that made the move', () => {
    const outcome = applyTransition(open(), {
      opId: 'op-probe',
      now: 1_200,
      from: { state: CircuitState.OPEN, generation: 1 },
      guard: { retryDue: true },
      to: { state: CircuitState.HALF_OPEN, probe: { token: 'token-1', leaseMs: 300 } },
    })
    expect(outcome.applied).toBe(true)
    expect(outcome.record).toMatchObject({
      state: CircuitState.HALF_OPEN,
      generation: 2,
      openCount: 1,
      successes: 0,
      probes: [{ slot: 0, token: 'token-1', expiresAt: 1_500 }],
      changedBy: 'op-probe',
    })
  })

  it('closes with a clean slate: no failures and no backoff', () => {
    const outcome = applyTransition(halfOpen({ openCount: 3 }), closing('op-close', 2, 'first-probe'))
    expect(outcome.record).toMatchObject({ state: CircuitState.CLOSED, failures: 0, openCount: 0, generation: 3 })
  })

  it.each<[string, CircuitRecord, Partial<TransitionRequest>]>([
    ['too few failures', closed({ failures: 1 }), { guard: { minFailures: 2 } }],
    ['a wrong state', closed({ failures: 1 }), { from: { state: CircuitState.OPEN, generation: 0 } }],
    ['a wrong generation', closed({ failures: 1 }), { from: { state: CircuitState.CLOSED, generation: 1 } }],
    [
      'a retry time not yet come',
      open(),
      { from: { state: CircuitState.OPEN, generation: 1 }, guard: { retryDue: true } },
    ],
    [
      'too few successes',
      halfOpen(),
      { from: { state: CircuitState.HALF_OPEN, generation: 2 }, guard: { minSuccesses: 1 } },
    ],
  ])('refuses a transition with %s, answering the record unchanged', (_case, record, change) => {
    const outcome = applyTransition(record, { ...opening('op-x', 0), ...change })
    expect(outcome.applied).toBe(false)
    expect(outcome.record).toBe(record)
  })
})

describe('the probe-token guard', () => {
  it('lets only a token holding a lease decide a half-open circuit', () => {
    const record = halfOpen()
    expect(holdsLease(record, 'first-probe')).toBe(true)
    expect(holdsLease(record, 'stranger')).toBe(false)
    const refused = applyTransition(record, closing('op-1', 2, 'stranger'))
    expect(refused).toEqual({ applied: false, record })
    expect(applyTransition(record, closing('op-2', 2, 'first-probe')).applied).toBe(true)
  })

  it('accepts a lapsed lease that no other probe has taken', () => {
    const record = halfOpen({ probes: [{ slot: 0, token: 'first-probe', expiresAt: 1_300 }] })
    expect(applyTransition(record, closing('op-1', 2, 'first-probe', 5_000)).applied).toBe(true)
  })

  it('refuses a token whose lease was given back or taken over', () => {
    const released = applyCompleteProbe(halfOpen(), {
      opId: 'op-1',
      generation: 2,
      token: 'first-probe',
      success: false,
      now: 1_300,
    })
    expect(applyTransition(released, closing('op-2', 2, 'first-probe')).applied).toBe(false)
    const lapsed = halfOpen({ probes: [{ slot: 0, token: 'first-probe', expiresAt: 1_300 }] })
    const { record: taken } = applyAcquireProbe(lapsed, {
      opId: 'second-probe',
      token: 'second-probe',
      generation: 2,
      maxProbes: 1,
      leaseMs: 300,
      now: 1_400,
    })
    expect(applyTransition(taken, closing('op-3', 2, 'first-probe')).applied).toBe(false)
    expect(applyTransition(taken, closing('op-4', 2, 'second-probe')).applied).toBe(true)
  })

  it('refuses a probe-token guard on a circuit that is not half-open', () => {
    const record = closed({ failures: 1 })
    const outcome = applyTransition(record, { ...opening('op-1', 0), guard: { probeToken: 'first-probe' } })
    expect(outcome).toEqual({ applied: false, record })
  })
})

describe('applyAcquireProbe', () => {
  const claim = (token: string, maxProbes: number, now = 1_300) => ({
    opId: token,
    token,
    generation: 2,
    maxProbes,
    leaseMs: 300,
    now,
  })

  it('takes the lowest free slot, keeping leases in slot order', () => {
    const record = halfOpen({ probes: [{ slot: 1, token: 'other', expiresAt: 2_000 }] })
    expect(freeProbeSlot(record, 3, 1_300)).toBe(0)
    const outcome = applyAcquireProbe(record, claim('token-2', 3))
    expect(outcome.lease).toEqual({ slot: 0, token: 'token-2', expiresAt: 1_600 })
    expect(outcome.record.state === CircuitState.HALF_OPEN && outcome.record.probes.map((lease) => lease.slot)).toEqual(
      [0, 1],
    )
  })

  it('answers a token already holding a lease with that lease, changing nothing', () => {
    const record = halfOpen()
    const outcome = applyAcquireProbe(record, claim('first-probe', 1))
    expect(outcome.lease).toBe(record.probes[0])
    expect(outcome.record).toBe(record)
  })

  it('reuses a lapsed slot and refuses when every slot is live', () => {
    const record = halfOpen()
    expect(applyAcquireProbe(record, claim('token-2', 1))).toEqual({ record })
    const later = applyAcquireProbe(record, claim('token-2', 1, 2_000))
    expect(later.lease).toEqual({ slot: 0, token: 'token-2', expiresAt: 2_300 })
  })

  it.each([
    ['another generation', halfOpen({ generation: 5 })],
    ['a circuit that is not half-open', open({ generation: 2 })],
  ])('grants nothing for %s', (_case, record) => {
    expect(applyAcquireProbe(record, claim('token-2', 3))).toEqual({ record })
  })
})

describe('applyCompleteProbe', () => {
  const done = (opId: string, token: string, success: boolean, generation = 2) => ({
    opId,
    token,
    success,
    generation,
    now: 1_300,
  })

  it('gives the lease back, counts a success and remembers its op id', () => {
    const next = applyCompleteProbe(halfOpen(), done('op-1', 'first-probe', true))
    expect(next).toMatchObject({ successes: 1, probes: [], recentOps: ['op-1'] })
  })

  it('counts a retried success once', () => {
    const request = done('op-1', 'first-probe', true)
    const next = applyCompleteProbe(halfOpen(), request)
    expect(applyCompleteProbe(next, request)).toBe(next)
  })

  it('gives back the lease of a failed probe, once', () => {
    const request = done('op-1', 'first-probe', false)
    const next = applyCompleteProbe(halfOpen(), request)
    expect(next).toMatchObject({ successes: 0, probes: [], recentOps: ['op-1'] })
    expect(applyCompleteProbe(next, request)).toBe(next)
  })

  it('counts a success whose lease was lost, but changes nothing for a failure without a lease', () => {
    const record = halfOpen()
    expect(applyCompleteProbe(record, done('op-1', 'stranger', false))).toBe(record)
    expect(applyCompleteProbe(record, done('op-2', 'stranger', true))).toMatchObject({
      successes: 1,
      probes: record.probes,
    })
  })

  it('changes nothing for another generation', () => {
    const record = halfOpen()
    expect(applyCompleteProbe(record, done('op-1', 'first-probe', true, 3))).toBe(record)
  })
})

describe('applySetForced', () => {
  it('sets an override at a new generation named after it, keeping the automatic state', () => {
    const record = open({ changedBy: 'op-open' })
    const next = applySetForced(
      record,
      { state: CircuitState.CLOSED, reason: 'drill', durationMs: 500 },
      { opId: 'op-force', now: 700 },
    )
    expect(next).toEqual({
      ...record,
      generation: 2,
      changedBy: 'op-force',
      forced: { state: CircuitState.CLOSED, reason: 'drill', since: 700, until: 1_200 },
      history: [{ at: 700, action: 'force-close', reason: 'drill', until: 1_200 }],
    })
  })

  it('clears an override, forgetting the counting writes of the generation before', () => {
    const record = closed({ failures: 1, recentOps: ['op-1'], forced: { state: CircuitState.OPEN, since: 1 } })
    const next = applySetForced(record, undefined, { opId: 'op-clear', now: 700 })
    expect(next).not.toHaveProperty('forced')
    expect(next).not.toHaveProperty('recentOps')
    expect(next).toMatchObject({ generation: 1, changedBy: 'op-clear', failures: 1 })
  })

  it('names a record it creates after itself', () => {
    const next = applySetForced(initialRecord(ID), { state: CircuitState.OPEN }, { opId: 'op-force', now: 700 })
    expect(next).toMatchObject({ incarnation: 'op-force', changedBy: 'op-force', generation: 1 })
  })

  it('changes nothing when applied again, even after counting writes at its generation', () => {
    const request = { opId: 'op-force', now: 700 }
    const forced = applySetForced(closed(), { state: CircuitState.CLOSED }, request)
    expect(applySetForced(forced, { state: CircuitState.CLOSED }, request)).toBe(forced)
    const counted = applyAddFailure(forced, failure('op-1', forced.generation, 800))
    expect(applySetForced(counted, { state: CircuitState.CLOSED }, request)).toBe(counted)
  })

  it('writes only the override fields it is given', () => {
    expect(overrideAt({ state: CircuitState.OPEN }, 5)).toEqual({ state: CircuitState.OPEN, since: 5 })
  })
})

describe('applyReset', () => {
  it('puts the circuit back to a fresh CLOSED state at a new generation, keeping its incarnation', () => {
    const record = open({ openCount: 4, forced: { state: CircuitState.OPEN, since: 1 } })
    expect(applyReset(record, { opId: 'op-reset', now: 900 })).toEqual({
      ...initialRecord(ID),
      incarnation: 'born',
      generation: 2,
      changedAt: 900,
      changedBy: 'op-reset',
      history: [{ at: 900, action: 'reset' }],
    })
  })

  it('names a record it creates after itself, and changes nothing when applied again', () => {
    const request = { opId: 'op-reset', now: 900 }
    const next = applyReset(initialRecord(ID), request)
    expect(next).toMatchObject({ incarnation: 'op-reset', generation: 1 })
    expect(applyReset(next, request)).toBe(next)
  })
})

describe('windowIsOpen', () => {
  it('holds while failures are counted and the window has not lapsed', () => {
    expect(windowIsOpen(closed({ failures: 1, windowStartedAt: 100 }), 100 + WINDOW - 1, WINDOW)).toBe(true)
    expect(windowIsOpen(closed({ failures: 1, windowStartedAt: 100 }), 100 + WINDOW, WINDOW)).toBe(false)
    expect(windowIsOpen(closed({ windowStartedAt: 100 }), 200, WINDOW)).toBe(false)
  })
})

/*
 * Properties over random histories. A history is a list of intents resolved against the record
 * at the time (so most writes are aimed at the current generation), with retries of earlier writes
 * mixed in.
 */

type Write =
  | { readonly kind: 'counting'; readonly apply: (record: CircuitRecord) => CircuitRecord }
  | { readonly kind: 'probe'; readonly token: string; readonly apply: (record: CircuitRecord) => CircuitRecord }
  | { readonly kind: 'generation'; readonly apply: (record: CircuitRecord) => CircuitRecord }

type Intent =
  | { readonly kind: 'failure'; readonly stale: boolean; readonly dt: number }
  | { readonly kind: 'success'; readonly stale: boolean }
  | { readonly kind: 'open' }
  | { readonly kind: 'probe'; readonly maxProbes: number; readonly dt: number }
  | { readonly kind: 'complete'; readonly success: boolean; readonly pick: number }
  | { readonly kind: 'close'; readonly pick: number }
  | { readonly kind: 'force'; readonly state: 'OPEN' | 'CLOSED' | undefined }
  | { readonly kind: 'reset' }
  | { readonly kind: 'retry'; readonly back: number }

const intent: fc.Arbitrary<Intent> = fc.oneof(
  fc.record({ kind: fc.constant('failure' as const), stale: fc.boolean(), dt: fc.integer({ min: 0, max: 700 }) }),
  fc.record({ kind: fc.constant('success' as const), stale: fc.boolean() }),
  fc.record({ kind: fc.constant('open' as const) }),
  fc.record({
    kind: fc.constant('probe' as const),
    maxProbes: fc.integer({ min: 1, max: 3 }),
    dt: fc.integer({ min: 0, max: 700 }),
  }),
  fc.record({ kind: fc.constant('complete' as const), success: fc.boolean(), pick: fc.nat() }),
  fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('force' as const), state: fc.constantFrom('OPEN', 'CLOSED', undefined) }),
  fc.record({ kind: fc.constant('reset' as const) }),
  fc.record({ kind: fc.constant('retry' as const), back: fc.nat() }),
)

/** Histories of mostly counting writes and retries of recent writes, with the odd generation change. */
const countingIntent: fc.Arbitrary<Intent> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('failure' as const),
      stale: fc.constant(false),
      dt: fc.integer({ min: 0, max: 700 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('success' as const), stale: fc.constant(false) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('retry' as const), back: fc.nat({ max: 6 }) }) },
  { weight: 1, arbitrary: intent },
)

/** Turns an intent into a concrete write with a fresh op id, aimed at `record` as it is at `now`. */
function resolve(intentToResolve: Intent, record: CircuitRecord, now: number, opId: string): Write | undefined {
  const generation = record.generation
  const leases = record.state === CircuitState.HALF_OPEN ? record.probes : []
  switch (intentToResolve.kind) {
    case 'failure': {
      const request = { ...failure(opId, intentToResolve.stale ? generation - 1 : generation, now) }
      return { kind: 'counting', apply: (current) => applyAddFailure(current, request) }
    }
    case 'success': {
      const request = { opId, generation: intentToResolve.stale ? generation - 1 : generation, now }
      return { kind: 'counting', apply: (current) => applyResetFailures(current, request) }
    }
    case 'open': {
      const request: TransitionRequest = {
        opId,
        now,
        from: { state: record.state, generation },
        to: { state: CircuitState.OPEN, openCount: record.openCount + 1, retryInMs: 300 },
      }
      return { kind: 'generation', apply: (current) => applyTransition(current, request).record }
    }
    case 'probe': {
      if (record.state === CircuitState.OPEN) {
        const request: TransitionRequest = {
          opId,
          now,
          from: { state: CircuitState.OPEN, generation },
          to: { state: CircuitState.HALF_OPEN, probe: { token: opId, leaseMs: 400 } },
        }
        return { kind: 'generation', apply: (current) => applyTransition(current, request).record }
      }
      const request = { opId, token: opId, generation, maxProbes: intentToResolve.maxProbes, leaseMs: 400, now }
      return { kind: 'probe', token: opId, apply: (current) => applyAcquireProbe(current, request).record }
    }
    case 'complete': {
      const lease = leases[intentToResolve.pick % Math.max(leases.length, 1)]
      const request = { opId, token: lease?.token ?? 'nobody', success: intentToResolve.success, generation, now }
      return { kind: 'counting', apply: (current) => applyCompleteProbe(current, request) }
    }
    case 'close': {
      const lease = leases[intentToResolve.pick % Math.max(leases.length, 1)]
      const request = closing(opId, generation, lease?.token ?? 'nobody', now)
      return { kind: 'generation', apply: (current) => applyTransition(current, request).record }
    }
    case 'force': {
      const request = { opId, now }
      const forced = intentToResolve.state === undefined ? undefined : { state: intentToResolve.state }
      return { kind: 'generation', apply: (current) => applySetForced(current, forced, request) }
    }
    case 'reset':
      return { kind: 'generation', apply: (current) => applyReset(current, { opId, now }) }
    case 'retry':
      return undefined
  }
}

interface Applied {
  readonly write: Write
  /** Whether the write changed the record the first time. */
  readonly changed: boolean
  readonly generation: number
  /** Counting writes applied after it, at its generation. */
  later: number
}

/** Replays a history; `check` sees each step's record before and after, and the write applied. */
function replay(
  intents: readonly Intent[],
  check: (step: { before: CircuitRecord; after: CircuitRecord; write: Write; retryOf?: Applied }) => void,
): void {
  let record: CircuitRecord = initialRecord(ID)
  let now = 0
  const applied: Applied[] = []
  intents.forEach((next, index) => {
    if (next.kind === 'failure' || next.kind === 'probe') now += next.dt
    const retryOf =
      next.kind === 'retry' ? applied[applied.length - 1 - (next.back % Math.max(applied.length, 1))] : undefined
    const write = next.kind === 'retry' ? retryOf?.write : resolve(next, record, now, `op-${index}`)
    if (write === undefined) return
    const after = write.apply(record)
    check({ before: record, after, write, ...(retryOf === undefined ? {} : { retryOf }) })
    if (after !== record && write.kind === 'counting') {
      for (const earlier of applied) if (earlier.generation === after.generation) earlier.later++
    }
    if (retryOf === undefined)
      applied.push({ write, changed: after !== record, generation: after.generation, later: 0 })
    record = after
  })
}

describe('properties of the store operations over random histories', () => {
  it('a write applied twice in a row changes the record once', () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 60 }), (intents) => {
        replay(intents, ({ after, write }) => {
          expect(write.apply(after)).toBe(after)
        })
      }),
    )
  })

  it('generations never go back, an incarnation once given never changes, op ids stay bounded', () => {
    fc.assert(
      fc.property(fc.array(intent, { maxLength: 80 }), (intents) => {
        replay(intents, ({ before, after }) => {
          expect(after.generation).toBeGreaterThanOrEqual(before.generation)
          if (before.incarnation !== '') expect(after.incarnation).toBe(before.incarnation)
          if (after.generation !== before.generation) expect(after.recentOps ?? []).toHaveLength(0)
          else if (after.changedBy !== before.changedBy) throw new Error('changedBy moved within a generation')
          expect((after.recentOps ?? []).length).toBeLessThanOrEqual(MAX_RECENT_OPS)
        })
      }),
    )
  })

  it('a counting write retried at the same generation, within the remembered op ids, changes nothing', () => {
    fc.assert(
      fc.property(fc.array(countingIntent, { maxLength: 60 }), (intents) => {
        replay(intents, ({ before, after, write, retryOf }) => {
          if (retryOf === undefined || write.kind !== 'counting' || !retryOf.changed) return
          if (retryOf.generation !== before.generation || retryOf.later >= MAX_RECENT_OPS) return
          expect(after).toBe(before)
        })
      }),
    )
  })
})
