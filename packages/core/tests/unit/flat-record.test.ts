import {
  type CircuitRecord,
  CircuitState,
  changeField,
  changeValue,
  decodeFlatRecord,
  encodeFlatRecord,
  FlatField,
  type FlatFields,
  isOpId,
  MAX_RECENT_CHANGES,
  MAX_RECENT_OPS,
  probeExpiresField,
  probeTokenField,
  repairGeneration,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'

/*
 * How key-value stores (a DynamoDB item, a Redis hash) read and write a record as flat fields, and
 * how they tell a record they wrote from foreign or corrupt data.
 */

const ID = 'payment-api'
const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** The fields of a valid closed record, to spoil one field at a time. */
function closedFields(fields: FlatFields = {}): FlatFields {
  return {
    [FlatField.STATE]: CircuitState.CLOSED,
    [FlatField.GENERATION]: 4,
    [FlatField.OPEN_COUNT]: 0,
    [FlatField.CHANGED_AT]: 100,
    [FlatField.FAILURES]: 1,
    [FlatField.WINDOW_STARTED_AT]: 90,
    [FlatField.INCARNATION]: 'born',
    ...fields,
  }
}

function decoded(fields: FlatFields): CircuitRecord {
  const result = decodeFlatRecord(ID, fields)
  if (!result.valid) throw new Error(`expected a valid record, got: ${result.reason}`)
  return result.record
}

function invalidReason(fields: FlatFields): string {
  const result = decodeFlatRecord(ID, fields)
  if (result.valid) throw new Error('expected an invalid record')
  return result.reason
}

describe('encoding and decoding a record', () => {
  const records: Array<[string, CircuitRecord]> = [
    [
      'a closed record counting failures',
      {
        circuitId: ID,
        incarnation: 'op-born',
        changedBy: 'op-reset',
        recentOps: ['op-1', 'op-2'],
        state: CircuitState.CLOSED,
        generation: 3,
        openCount: 0,
        changedAt: 100,
        failures: 2,
        windowStartedAt: 150,
      },
    ],
    [
      'an open record under a timed override',
      {
        circuitId: ID,
        incarnation: 'op-born',
        changedBy: 'op-open',
        state: CircuitState.OPEN,
        generation: MAX_SAFE,
        openCount: 2,
        changedAt: 100,
        retryAt: 1_100,
        forced: { state: CircuitState.CLOSED, reason: 'drill', since: 50, until: 5_000 },
      },
    ],
    [
      'a half-open record with probes in flight',
      {
        circuitId: ID,
        incarnation: 'op-born',
        changedBy: 'op-probe',
        recentOps: ['op-3'],
        state: CircuitState.HALF_OPEN,
        generation: 5,
        openCount: 1,
        changedAt: 1_200,
        successes: 1,
        probes: [
          { slot: 0, token: 'token-a', expiresAt: 1_500 },
          { slot: 2, token: 'token-b', expiresAt: 1_600 },
        ],
        forced: { state: CircuitState.OPEN, since: 60 },
      },
    ],
  ]

  it.each(records)('reads back %s as it was written', (_case, record) => {
    expect(decodeFlatRecord(ID, encodeFlatRecord(record))).toEqual({ valid: true, record })
  })

  it('writes the op ids a record remembers as one string separated by spaces', () => {
    const [, record] = records[0] ?? []
    expect(record && encodeFlatRecord(record)[FlatField.RECENT_OPS]).toBe('op-1 op-2')
  })

  it('leaves out the incarnation of a circuit the store holds nothing for, and an empty list of op ids', () => {
    const fields = encodeFlatRecord({
      circuitId: ID,
      incarnation: '',
      recentOps: [],
      state: CircuitState.CLOSED,
      generation: 0,
      openCount: 0,
      changedAt: 0,
      failures: 0,
    })
    expect(fields).toEqual({ state: 'CLOSED', generation: 0, openCount: 0, changedAt: 0, failures: 0 })
    expect(decoded(fields)).toEqual({
      circuitId: ID,
      incarnation: '',
      state: CircuitState.CLOSED,
      generation: 0,
      openCount: 0,
      changedAt: 0,
      failures: 0,
    })
  })
})

describe('generations and counters', () => {
  it('accepts the largest safe generation', () => {
    expect(decoded(closedFields({ [FlatField.GENERATION]: MAX_SAFE })).generation).toBe(MAX_SAFE)
  })

  it.each([
    ['2^53', 2 ** 53],
    ['a number past 2^53', 2 ** 60],
    ['a negative number', -1],
    ['a fraction', 1.5],
  ])('treats a generation of %s as foreign data, restarting the circuit at generation 0', (_case, generation) => {
    const fields = closedFields({ [FlatField.GENERATION]: generation })
    expect(invalidReason(fields)).toMatch(/generation/)
    const { record } = decodeFlatRecord(ID, fields)
    expect(record).toEqual({
      circuitId: ID,
      incarnation: '',
      state: CircuitState.CLOSED,
      generation: 0,
      openCount: 0,
      changedAt: 0,
      failures: 0,
    })
    expect(repairGeneration(fields)).toBe(0)
  })

  it.each([
    [FlatField.OPEN_COUNT, 2 ** 53],
    [FlatField.FAILURES, -1],
    [FlatField.FAILURES, 0.5],
    [FlatField.SUCCESSES, 2 ** 53],
  ])('treats a %s of %p as foreign data', (field, value) => {
    expect(invalidReason(closedFields({ [field]: value }))).toContain(field)
  })

  it('keeps the readable generation of an otherwise corrupt record, so the repair lands on it', () => {
    const fields = { [FlatField.STATE]: 'BROKEN', [FlatField.GENERATION]: 7 }
    expect(decodeFlatRecord(ID, fields).record.generation).toBe(7)
    expect(repairGeneration(fields)).toBe(7)
  })
})

describe('overrides', () => {
  const forcedFields = (until: unknown): FlatFields =>
    closedFields({
      [FlatField.FORCED_STATE]: CircuitState.OPEN,
      [FlatField.FORCED_SINCE]: 50,
      [FlatField.FORCED_REASON]: 'drill',
      [FlatField.FORCED_UNTIL]: until,
    })

  it('reads an override with an end as timed and one without as permanent', () => {
    expect(decoded(forcedFields(5_000)).forced).toEqual({
      state: CircuitState.OPEN,
      since: 50,
      reason: 'drill',
      until: 5_000,
    })
    expect(decoded(forcedFields(undefined)).forced).toEqual({ state: CircuitState.OPEN, since: 50, reason: 'drill' })
  })

  it.each([
    ['a string', 'tomorrow'],
    ['a numeric string', '5000'],
    ['NaN', Number.NaN],
    ['infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['a boolean', true],
  ])('drops an override whose end is %s rather than making it permanent', (_case, until) => {
    const record = decoded(forcedFields(until))
    expect(record.forced).toBeUndefined()
    expect(record).toMatchObject({ state: CircuitState.CLOSED, failures: 1, generation: 4 })
  })

  it.each([
    ['an unknown forced state', { [FlatField.FORCED_STATE]: 'HALF_OPEN', [FlatField.FORCED_SINCE]: 50 }],
    ['no start time', { [FlatField.FORCED_STATE]: CircuitState.OPEN }],
  ])('drops an override with %s, keeping the record', (_case, fields) => {
    expect(decoded(closedFields(fields)).forced).toBeUndefined()
  })
})

describe('op ids', () => {
  const ids = (count: number, prefix = 'op') => Array.from({ length: count }, (_, index) => `${prefix}-${index}`)
  const recentOps = (value: unknown) => decoded(closedFields({ [FlatField.RECENT_OPS]: value })).recentOps

  it('reads the remembered op ids from a list or from one string separated by spaces', () => {
    expect(recentOps(['op-1', 'op-2'])).toEqual(['op-1', 'op-2'])
    expect(recentOps('op-1 op-2')).toEqual(['op-1', 'op-2'])
    expect(recentOps('  op-1   op-2 ')).toEqual(['op-1', 'op-2'])
  })

  it('drops ids that cannot be op ids, keeping the others in order', () => {
    const tooLong = 'x'.repeat(65)
    expect(recentOps(['op-1', '', 'has space', tooLong, 7, null, 'tab\there', 'é', 'op-2'])).toEqual(['op-1', 'op-2'])
    expect(recentOps(`op-1 ${tooLong} é op-2`)).toEqual(['op-1', 'op-2'])
  })

  it(`keeps the newest ${MAX_RECENT_OPS} ids of a longer list`, () => {
    expect(recentOps(ids(MAX_RECENT_OPS + 8))).toEqual(ids(MAX_RECENT_OPS + 8).slice(8))
    expect(recentOps(ids(MAX_RECENT_OPS + 8).join(' '))).toEqual(ids(MAX_RECENT_OPS + 8).slice(8))
    expect(recentOps([...ids(MAX_RECENT_OPS, 'op'), '', 'bad id'])).toEqual(ids(MAX_RECENT_OPS, 'op'))
  })

  it.each([
    ['an empty string', ''],
    ['an empty list', []],
    ['only invalid ids', ['', 'bad id']],
    ['a number', 42],
    ['an object', { 0: 'op-1' }],
  ])('reads %s as no remembered op ids', (_case, value) => {
    const record = decoded(closedFields({ [FlatField.RECENT_OPS]: value }))
    expect(record).not.toHaveProperty('recentOps')
  })

  it('reads a record without an incarnation as a circuit the store holds nothing for', () => {
    expect(decoded(closedFields({ [FlatField.INCARNATION]: undefined })).incarnation).toBe('')
  })

  it.each([
    ['an empty string', ''],
    ['spaces', 'two words'],
    ['a number', 7],
    ['65 characters', 'x'.repeat(65)],
  ])('treats a record whose incarnation is %s as foreign data', (_case, incarnation) => {
    expect(invalidReason(closedFields({ [FlatField.INCARNATION]: incarnation }))).toMatch(/incarnation/)
  })

  it('drops a malformed changedBy, keeping the record', () => {
    const record = decoded(closedFields({ [FlatField.CHANGED_BY]: 'two words' }))
    expect(record).not.toHaveProperty('changedBy')
    expect(decoded(closedFields({ [FlatField.CHANGED_BY]: 'op-7' })).changedBy).toBe('op-7')
  })

  it.each([
    ['a random UUID', '0b6f3c1e-8a4d-4c55-9c2e-2f0d3b1a7e61', true],
    ['64 printable characters', '!'.repeat(64), true],
    ['65 characters', 'x'.repeat(65), false],
    ['an empty string', '', false],
    ['a space', 'a b', false],
    ['a non-ASCII letter', 'café', false],
    ['a number', 12, false],
  ])('tells whether %s can be an op id', (_case, value, expected) => {
    expect(isOpId(value)).toBe(expected)
  })
})

describe('recent changes', () => {
  it('keeps each transition in the field of its generation, and reads them back oldest first', () => {
    const record: CircuitRecord = {
      ...decoded(closedFields({ [FlatField.GENERATION]: 6, [FlatField.CHANGED_BY]: 'op-6' })),
      recentChanges: ['op-4', 'op-5', 'op-6'],
    }
    const fields = encodeFlatRecord(record)
    expect(fields).toMatchObject({
      [changeField(4)]: changeValue(4, 'op-4'),
      [changeField(5)]: changeValue(5, 'op-5'),
      [changeField(6)]: changeValue(6, 'op-6'),
    })
    expect(changeField(6)).toBe(changeField(6 + MAX_RECENT_CHANGES))
    expect(decoded(fields).recentChanges).toEqual(['op-4', 'op-5', 'op-6'])
  })

  it('does not take a field the current generation’s maker does not match as its own, nor an unreadable one', () => {
    const fields = closedFields({
      [FlatField.GENERATION]: 5,
      [FlatField.CHANGED_BY]: 'op-5',
      [changeField(2)]: 'op-2',
      [changeField(3)]: '3 two words',
      [changeField(4)]: changeValue(4, 'op-4'),
      // Names generation 5, but not the op id that made it.
      [changeField(5)]: changeValue(5, 'op-1'),
    })
    expect(decoded(fields).recentChanges).toEqual(['op-4', ''])
  })

  it('does not read a field left a window earlier as the maker of a later generation', () => {
    // Generation 12 was made by a writer that names no transitions, so its field still holds
    // generation 4's; only generation 13's own field names it.
    const fields = closedFields({
      [FlatField.GENERATION]: 13,
      [FlatField.CHANGED_BY]: 'op-13',
      [changeField(4)]: changeValue(4, 'op-4'),
      [changeField(13)]: changeValue(13, 'op-13'),
    })
    expect(changeField(4)).toBe(changeField(12))
    expect(decoded(fields).recentChanges).toEqual(['op-13'])
  })

  it('reads no recent changes from a record without those fields', () => {
    expect(decoded(closedFields({ [FlatField.CHANGED_BY]: 'op-4' }))).not.toHaveProperty('recentChanges')
  })
})

describe('probe slots', () => {
  it('ignores a half-written slot, leaving it free for the next probe', () => {
    const record = decoded({
      [FlatField.STATE]: CircuitState.HALF_OPEN,
      [FlatField.GENERATION]: 2,
      [FlatField.OPEN_COUNT]: 1,
      [FlatField.CHANGED_AT]: 100,
      [FlatField.SUCCESSES]: 0,
      [probeTokenField(0)]: 'token-a',
      [probeExpiresField(0)]: 500,
      [probeTokenField(1)]: 'token-b',
      [probeExpiresField(2)]: 600,
    })
    expect(record).toMatchObject({ probes: [{ slot: 0, token: 'token-a', expiresAt: 500 }] })
  })
})
