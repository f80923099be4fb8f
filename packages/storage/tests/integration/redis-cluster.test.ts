import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type CircuitRecord, CircuitState } from '@fleet-breaker/core'
import { type ConformanceHarness, storeConformanceCases } from '@fleet-breaker/core/testing'
import { RedisStore } from '@fleet-breaker/storage/redis'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { Cluster } from 'ioredis'
import { CLUSTER_ROLE, type RedisCluster, startRedisCluster } from '../../../../test-support/redis-cluster.js'
import {
  connectRedisCluster,
  REDIS_CLIENT_KINDS,
  type RedisClientKind,
  type RedisConnection,
} from '../support/redis-clients.js'

/*
 * The store on a real Redis Cluster (three masters, three replicas, local processes), through
 * ioredis `Cluster` and node-redis `createCluster`: the conformance suite, then a fleet of
 * environments counting failures on circuits spread over every master while a replica takes over
 * one master's slots. One cluster serves the whole file.
 *
 * Each circuit is one key whose hash tag is the circuit id, so every script touches a single slot
 * and the cluster routes it to the master that owns the circuit. A coordinated failover (CLUSTER
 * FAILOVER) loses no acknowledged write, so counts stay exact across it; a failover after a crash
 * may lose the last writes the master acknowledged (replication is asynchronous), which the
 * lost-record cases of the suite stand for: the circuit is then created again under a new
 * incarnation.
 */

let cluster: RedisCluster
/** A few clients per library, shared by the stores the cases create: a cluster client is costly. */
const pools: Record<RedisClientKind, RedisConnection[]> = { ioredis: [], 'node-redis': [] }
let admin: Cluster
const POOL_SIZE = 3
let nextClient = 0

beforeAll(async () => {
  cluster = await startRedisCluster()
  admin = new Cluster([...cluster.startupNodes])
  admin.on('error', () => {})
  for (const kind of REDIS_CLIENT_KINDS) {
    for (let index = 0; index < POOL_SIZE; index++) {
      pools[kind].push(await connectRedisCluster(kind, cluster.startupNodes))
    }
  }
}, 180_000)

afterAll(async () => {
  await Promise.all(REDIS_CLIENT_KINDS.flatMap((kind) => pools[kind].map((connection) => connection.close())))
  await admin?.quit()
  await cluster?.stop()
}, 60_000)

function clientOf(kind: RedisClientKind): RedisConnection['client'] {
  const pool = pools[kind]
  const connection = pool[nextClient++ % pool.length]
  if (connection === undefined) throw new Error('no cluster client')
  return connection.client
}

function harnessFor(kind: RedisClientKind, behindTheStoresBack = false): ConformanceHarness {
  const keyPrefix = `cluster-conformance:${randomUUID()}:`
  return {
    createStore: () => new RedisStore({ client: clientOf(kind), keyPrefix, ttlSeconds: 600 }),
    now: Date.now,
    advance: (ms) => sleep(ms),
    // The server reads its clock a round trip after the caller's `now`; on a busy machine that can
    // take a few hundred milliseconds (every duration the cases compare is seconds or more).
    clockToleranceMs: 500,
    // SCAN may return a key twice while the server resizes its key table.
    listMayRepeat: true,
    ...(behindTheStoresBack
      ? {
          loseRecord: async (circuitId: string) => {
            await admin.del(`${keyPrefix}{${circuitId}}`)
          },
        }
      : {}),
  }
}

const table = REDIS_CLIENT_KINDS.flatMap((kind) =>
  storeConformanceCases.map((conformanceCase) => ({ kind, conformanceCase })),
)

describe('RedisStore conformance on Redis Cluster', () => {
  for (const { kind, conformanceCase } of table) {
    it(`${kind}: ${conformanceCase.name}`, () => conformanceCase.run(harnessFor(kind)), conformanceCase.timeoutMs)
  }
  for (const { kind, conformanceCase } of table.filter(({ conformanceCase }) =>
    conformanceCase.name.includes('lost record'),
  )) {
    it(
      `${kind}: ${conformanceCase.name} (record deleted behind the store’s back)`,
      () => conformanceCase.run(harnessFor(kind, true)),
      conformanceCase.timeoutMs,
    )
  }
})

/** Circuit ids whose keys, under `keyPrefix`, live on each of the three masters (two per master). */
async function circuitsOnEveryMaster(store: RedisStore): Promise<string[]> {
  const byMaster = new Map<number, string[]>()
  for (let index = 0; byMaster.size < 3 || [...byMaster.values()].some((ids) => ids.length < 2); index++) {
    const circuitId = `fleet-${index}`
    const master = await cluster.masterFor(store.keyFor(circuitId))
    const ids = byMaster.get(master.port) ?? []
    if (ids.length < 2) byMaster.set(master.port, [...ids, circuitId])
  }
  return [...byMaster.values()].flat()
}

/**
 * Sends a write until it is answered, with the same op id each time, as a caller retrying an
 * ambiguous failure would: during a failover a command can fail without having been applied (a
 * redirection, a closed connection), or with it applied; the op id makes either safe to retry.
 */
async function untilAnswered<T>(write: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      return await write()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(50)
    }
  }
}

describe('a fleet on Redis Cluster while a replica takes over a master', () => {
  it('counts every failure exactly, opens each circuit once, and keeps working after the promotion', async () => {
    const keyPrefix = `cluster-fleet:${randomUUID()}:`
    // Six environments, three per client library, all on the same circuits.
    const fleet = REDIS_CLIENT_KINDS.flatMap((kind) =>
      pools[kind].map((connection) => new RedisStore({ client: connection.client, keyPrefix })),
    )
    const [first] = fleet
    if (first === undefined) throw new Error('no environment')
    const circuits = await circuitsOnEveryMaster(first)
    const victim = await cluster.masterFor(first.keyFor(circuits[0] ?? ''))

    const counted = new Map<string, number>(circuits.map((circuitId) => [circuitId, 0]))
    let promoted = false
    /** Each environment counts failures on every circuit until the promotion is over, and a round more. */
    const countFailures = async (store: RedisStore) => {
      let roundsAfter = 0
      while (roundsAfter < 2) {
        if (promoted) roundsAfter++
        for (const circuitId of circuits) {
          const request = { opId: randomUUID(), generation: 0, now: Date.now(), windowMs: 600_000 }
          const answer = await untilAnswered(() => store.addFailure(circuitId, request))
          expect(answer.recentOps).toContain(request.opId)
          counted.set(circuitId, (counted.get(circuitId) ?? 0) + 1)
        }
      }
    }
    const writers = fleet.map(countFailures)
    // Let the fleet get going, then move one master's slots to its replica under its feet.
    await sleep(200)
    const newMaster = await cluster.promoteReplica(victim.port)
    promoted = true
    await Promise.all(writers)
    expect(newMaster.role).toBe(CLUSTER_ROLE.MASTER)
    expect(await cluster.masterFor(first.keyFor(circuits[0] ?? ''))).toMatchObject({ port: newMaster.port })

    // Nothing acknowledged was lost, and nothing was counted twice.
    for (const circuitId of circuits) {
      const record = await first.get(circuitId)
      expect({ circuitId, failures: record?.state === CircuitState.CLOSED ? record.failures : -1 }).toEqual({
        circuitId,
        failures: counted.get(circuitId),
      })
    }

    // Every environment races to open every circuit: exactly one wins each, and every one knows it.
    for (const circuitId of circuits) {
      const outcomes = await Promise.all(
        fleet.map((store) => {
          const request = {
            opId: randomUUID(),
            from: { state: CircuitState.CLOSED, generation: 0 },
            guard: { minFailures: 1 },
            to: { state: CircuitState.OPEN, openCount: 1, retryInMs: 60_000 },
            now: Date.now(),
          } as const
          return untilAnswered(() => store.transition(circuitId, request)).then((outcome) => ({ outcome, request }))
        }),
      )
      const winners = outcomes.filter(({ outcome }) => outcome.applied)
      expect(winners).toHaveLength(1)
      const winnerOp = winners[0]?.request.opId
      for (const { outcome } of outcomes) {
        expect(outcome.record).toMatchObject({ state: CircuitState.OPEN, generation: 1, changedBy: winnerOp })
      }
    }
    const reads: Array<CircuitRecord | undefined> = await Promise.all(
      fleet.map((store) => store.get(circuits[0] ?? '')),
    )
    expect(new Set(reads.map((record) => record?.changedBy)).size).toBe(1)
  }, 180_000)

  it.each(REDIS_CLIENT_KINDS)('%s: keeps one key per circuit, even for circuit ids holding braces', async (kind) => {
    const store = new RedisStore({ client: clientOf(kind), keyPrefix: `cluster-braces:${randomUUID()}:` })
    const circuitId = 'team{a}:payments}'
    const opId = randomUUID()
    expect(
      await store.addFailure(circuitId, { opId, generation: 0, now: Date.now(), windowMs: 600_000 }),
    ).toMatchObject({ failures: 1, incarnation: opId })
    expect(await store.get(circuitId)).toMatchObject({ failures: 1 })
    expect(await admin.exists(store.keyFor(circuitId))).toBe(1)
  })
})
