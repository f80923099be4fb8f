import { randomUUID } from 'node:crypto'
import {
  CircuitAdmin,
  type CircuitStore,
  isInvalidConfigurationError,
  MAX_HISTORY,
  MemoryStore,
} from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { Redis } from 'ioredis'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'

// Real stores (dynalite in-process, a real redis-server); a loaded machine can be slow.
jest.setTimeout(60_000)

/*
 * Operators' writes with hostile text, long runs of actions and listings under churn, against both
 * real stores: the history stays bounded and readable whatever the reason or actor holds (its own
 * delimiters, Lua patterns, expression syntax, JSON, unicode), and a listing never loses a circuit
 * or crashes on a cursor it did not write.
 *
 * Redis is a private server this file starts and stops: the hostile texts carry Redis commands
 * (FLUSHALL among them) and the listing clears keys, so a store that let either through would
 * damage whatever else the server holds. The shared test server is never touched.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const TABLE = 'operations-adversarial'
const RUN_PREFIX = `fleet-breaker-test:operations-adversarial:${randomUUID()}:`
/** A key outside every store of this file: a hostile text run as a command would take it away. */
const BYSTANDER_KEY = 'operations-adversarial:bystander'

let dynamo: LocalDynamoDB
let server: RedisServer
let redis: Redis

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable(TABLE)
  server = await startRedisServer()
  redis = new Redis(server.url)
  await redis.set(BYSTANDER_KEY, 'kept')
})

afterAll(async () => {
  await dynamo?.stop()
  await redis?.quit()
  await server?.stop()
})

const stores: ReadonlyArray<[string, () => CircuitStore]> = [
  ['DynamoDB', () => new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger: silent })],
  ['Redis', () => new RedisStore({ client: redis, keyPrefix: `${RUN_PREFIX}${randomUUID()}:`, logger: silent })],
]

/** Texts built to break a compact history string, a Lua script, an expression or JSON. */
const HOSTILE_REASONS = [
  'tab\there\tand\nnew\r\nlines\u0000nul',
  "%s %d %% ' \" ]] [[ ]=] -- end ) return redis.call('FLUSHALL')",
  '#history = :v, SET #x = :y REMOVE forced_state',
  '{"at":1,"action":"reset"}\\n\\t',
  'ünïcödé 🚨🔥 עברית \u2028\u2029 \u0085 \ufeff',
  'r'.repeat(1_024),
  // Cut for the history right inside a surrogate pair.
  `${'s'.repeat(78)}🚨🚨🚨`,
]

/** Whether `kept` is `text` as a history keeps it: control characters as spaces, shortened with `…`. */
function keeps(kept: string | undefined, text: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what history replaces
  const line = text.replace(/[\u0000-\u001f\u007f]/g, ' ')
  if (kept === undefined) return false
  return kept === line || (kept.endsWith('…') && kept.length > 16 && line.startsWith(kept.slice(0, -1)))
}

describe.each(stores)('%s store: operator writes with hostile text', (_name, makeStore) => {
  it('keeps each action as exactly one readable history entry, its text intact bar control characters', async () => {
    const store = makeStore()
    const circuitId = `hostile-${randomUUID()}`
    const admin = new CircuitAdmin({ store, logger: silent })
    const actors = ['alice\u00a0🚀', `a${'b'.repeat(255)}`, 'o\'brien"%', 'user:#1 = :v', `${'c'.repeat(62)}🚀🚀`]
    for (const [index, reason] of HOSTILE_REASONS.entries()) {
      const actor = actors[index % actors.length] as string
      const change =
        index % 2 === 0
          ? await admin.forceOpen(circuitId, { actor, reason })
          : await admin.clearOverride(circuitId, { actor, reason })
      expect(change.applied).toBe(true)
    }
    const history = await admin.history(circuitId)
    expect(history).toHaveLength(HOSTILE_REASONS.length)
    const expected = [...HOSTILE_REASONS.entries()].reverse()
    for (const [position, entry] of history.entries()) {
      const [index, reason] = expected[position] as [number, string]
      expect(entry.action).toBe(index % 2 === 0 ? 'force-open' : 'clear')
      expect(keeps(entry.actor, actors[index % actors.length] as string)).toBe(true)
      expect(keeps(entry.reason, reason)).toBe(true)
    }
    // The override itself keeps the reason as given.
    const last = HOSTILE_REASONS.length - 1
    if (last % 2 === 0) {
      const [status] = await admin.status([circuitId])
      expect(status?.forced?.reason).toBe(HOSTILE_REASONS[last])
    }
  })

  it('keeps the history bounded over many actions, newest first, at the largest texts', async () => {
    const store = makeStore()
    const circuitId = `bounded-${randomUUID()}`
    const admin = new CircuitAdmin({ store, logger: silent })
    const actions = 3 * MAX_HISTORY + 3
    for (let index = 0; index < actions; index++) {
      const note = { actor: `op-${index}-${'x'.repeat(240)}`, reason: `${index} ${'é'.repeat(1_000)}` }
      if (index % 3 === 0) await admin.forceOpen(circuitId, { ...note, durationMs: 60_000 })
      else if (index % 3 === 1) await admin.setShadow(circuitId, true, note)
      else await admin.reset(circuitId, note)
    }
    const history = await admin.history(circuitId)
    expect(history).toHaveLength(MAX_HISTORY)
    expect(history.map((entry) => Number(entry.reason?.split(' ')[0]))).toEqual(
      Array.from({ length: MAX_HISTORY }, (_, index) => actions - 1 - index),
    )
  })

  it('refuses a cursor it did not write with a typed error naming cursor', async () => {
    const store = makeStore()
    const foreign = [
      'garbage',
      '!!!',
      '',
      Buffer.from('{"after":1}').toString('base64url'),
      Buffer.from('[1,2,3]').toString('base64url'),
      Buffer.from('null').toString('base64url'),
      Buffer.from('{"node":"127.0.0.1:1","scan":"-1"}').toString('base64url'),
      // A Redis position with a SCAN cursor past 64 bits: the server would fail the call.
      Buffer.from('{"a":"","c":"99999999999999999999999"}').toString('base64url'),
      Buffer.from('{"a":"","c":"18446744073709551616"}').toString('base64url'),
      Buffer.from('{"ExclusiveStartKey":{"id":{"N":"1"}}}').toString('base64url'),
      'A'.repeat(10_000),
    ]
    for (const cursor of foreign) {
      const error = await store.list({ cursor, limit: 10 }).catch((caught: unknown) => caught)
      expect(isInvalidConfigurationError(error) && error.option).toBe('cursor')
    }
  })
})

describe('Redis store: hostile text stays data', () => {
  it('runs none of it as a command: other keys survive, and every key written is under a store’s prefix', async () => {
    const prefix = `${RUN_PREFIX}${randomUUID()}:`
    const store = new RedisStore({ client: redis, keyPrefix: prefix, logger: silent })
    const admin = new CircuitAdmin({ store, logger: silent })
    const circuitId = `contained-${randomUUID()}`
    const actor = `o'brien"% ]] return redis.call('FLUSHALL') --`
    for (const reason of HOSTILE_REASONS) {
      await admin.forceOpen(circuitId, { actor, reason })
      await admin.clearOverride(circuitId, { actor, reason })
    }
    expect(await redis.get(BYSTANDER_KEY)).toBe('kept')
    const keys = await redis.keys('*')
    expect(keys.some((key) => key.startsWith(prefix))).toBe(true)
    expect(keys.filter((key) => key !== BYSTANDER_KEY && !key.startsWith(RUN_PREFIX))).toEqual([])
  })
})

describe.each(stores)('%s store: listing while circuits come and go', (_name, makeStore) => {
  it('lists every circuit that exists throughout, at least once, whatever is created or removed meanwhile', async () => {
    const store = makeStore()
    const admin = new CircuitAdmin({ store, actor: 'lister', logger: silent })
    const run = randomUUID().slice(0, 8)
    const stable = Array.from({ length: 60 }, (_, index) => `stable-${run}-${index}`)
    const churn = Array.from({ length: 60 }, (_, index) => `churn-${run}-${index}`)
    for (const circuitId of [...stable, ...churn.slice(0, 30)]) await admin.forceClose(circuitId)
    const seen = new Set<string>()
    let cursor: string | undefined
    let page = 0
    do {
      const result = await store.list({ limit: 7, ...(cursor === undefined ? {} : { cursor }) })
      for (const { circuitId } of result.circuits) seen.add(circuitId)
      cursor = result.cursor
      // Between pages: remove some circuits, create others.
      const removing = churn.slice(Math.min(page * 3, 30), Math.min(page * 3 + 3, 30))
      if (removing.length > 0) await store.clearMany(removing)
      await admin.forceOpen(churn[30 + (page % 30)] as string)
      page++
    } while (cursor !== undefined && page < 500)
    expect(cursor).toBeUndefined()
    expect(stable.filter((circuitId) => !seen.has(circuitId))).toEqual([])
  })
})

/** Stores as a machine whose clock reads `skewMs` off sees them (its store client on the same clock). */
const skewedStores: ReadonlyArray<[string, (now: () => number, prefix: string) => CircuitStore]> = [
  ['DynamoDB', (now) => new DynamoDBStore({ tableName: TABLE, client: dynamo.client(), logger: silent, now })],
  ['Redis', (_now, prefix) => new RedisStore({ client: redis, keyPrefix: prefix, logger: silent })],
]

describe.each(skewedStores)('%s store: timed overrides set from a skewed clock', (_name, makeStore) => {
  it.each([
    ['an hour ahead', 3_600_000],
    ['an hour behind', -3_600_000],
  ])('an override set from a clock %s lasts its duration for the fleet', async (_label, skewMs) => {
    const prefix = `${RUN_PREFIX}${randomUUID()}:`
    const laptopNow = () => Date.now() + skewMs
    const circuitId = `skew-${randomUUID()}`
    const skewed = new CircuitAdmin({
      store: makeStore(laptopNow, prefix),
      actor: 'laptop',
      logger: silent,
      now: laptopNow,
    })
    const fleet = new CircuitAdmin({ store: makeStore(Date.now, prefix), actor: 'fleet', logger: silent })
    await skewed.forceOpen(circuitId, { reason: 'maintenance', durationMs: 30 * 60_000 })
    const [status] = await fleet.status([circuitId])
    expect(status?.state).toBe('OPEN')
    const until = status?.forced?.until ?? 0
    // Within a minute of thirty minutes from now by the fleet's clock, whatever the laptop's says.
    expect(Math.abs(until - (Date.now() + 30 * 60_000))).toBeLessThan(60_000)
  })
})

const storesAndMemory: ReadonlyArray<[string, () => CircuitStore]> = [...stores, ['Memory', () => new MemoryStore()]]

describe.each(storesAndMemory)(
  '%s store: an automation’s override only where nobody else’s is in force',
  (_name, makeStore) => {
    it('applies over its own override or none in force (lapsed included), never over another actor’s in force', async () => {
      const store = makeStore()
      const admin = new CircuitAdmin({ store, logger: silent })
      const alarm = { actor: 'alarm:errors', onlyIfActor: 'alarm:errors', orNoOverride: true, reason: 'ALARM' }
      const fresh = `cond-fresh-${randomUUID()}`
      expect((await admin.forceOpen(fresh, alarm)).applied).toBe(true)
      expect((await admin.forceOpen(fresh, alarm)).applied).toBe(true)

      const taken = `cond-taken-${randomUUID()}`
      await admin.forceClose(taken, { actor: 'alice', reason: 'false alarm' })
      const refused = await admin.forceOpen(taken, alarm)
      expect(refused.applied).toBe(false)
      expect(refused.status.forced).toMatchObject({ state: 'CLOSED', actor: 'alice' })
      const notCleared = await admin.clearOverride(taken, { ...alarm, reason: 'OK' })
      expect(notCleared.applied).toBe(false)
      expect((await admin.history(taken)).map((entry) => entry.actor)).toEqual(['alice'])

      // Another actor's override that has ended no longer stands in the way.
      const lapsed = `cond-lapsed-${randomUUID()}`
      await admin.forceClose(lapsed, { actor: 'alice', reason: 'brief', durationMs: 1 })
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      expect((await admin.forceOpen(lapsed, alarm)).status.forced).toMatchObject({ actor: 'alarm:errors' })
    })
  },
)
