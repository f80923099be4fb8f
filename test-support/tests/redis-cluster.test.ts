import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { CLUSTER_ROLE, type RedisCluster, startRedisCluster } from '../redis-cluster.js'
import { parseInfo, redisCommand } from '../resp.js'
import { Cluster, createCluster } from './redis-clients.js'

/*
 * A real cluster, driven with both client libraries the Redis store supports: plain commands, and a
 * script over two keys that share a hash tag (as one circuit's keys do), before and after a replica
 * takes over the master serving them.
 */

let cluster: RedisCluster
let ioredis: Cluster
let nodeRedis: ReturnType<typeof createCluster>

const tag = `{circuit:${randomUUID()}}`
const keys = [`${tag}:state`, `${tag}:failures`] as const
/** Writes both keys and reads them back in one script: a cluster accepts it only if they share a slot. */
const SCRIPT =
  "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('MGET', KEYS[1], KEYS[2])"

beforeAll(async () => {
  cluster = await startRedisCluster() // about 7 s; see redis-cluster.ts
  ioredis = new Cluster([...cluster.startupNodes])
  nodeRedis = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) })
  nodeRedis.on('error', () => {})
  await nodeRedis.connect()
}, 120_000)

afterAll(async () => {
  await ioredis?.quit()
  await nodeRedis?.close()
  await cluster?.stop()
}, 60_000)

async function exercise(round: string): Promise<void> {
  await ioredis.set(`${tag}:io`, round)
  expect(await ioredis.get(`${tag}:io`)).toBe(round)
  expect(await ioredis.eval(SCRIPT, 2, ...keys, `io-${round}`)).toEqual([`io-${round}`, `io-${round}`])

  await nodeRedis.set(`${tag}:node`, round)
  expect(await nodeRedis.get(`${tag}:node`)).toBe(round)
  expect(await nodeRedis.eval(SCRIPT, { keys: [...keys], arguments: [`node-${round}`] })).toEqual([
    `node-${round}`,
    `node-${round}`,
  ])
}

describe('a local Redis Cluster', () => {
  it('has three masters covering every slot, each with a replica, on ephemeral ports', async () => {
    const masters = cluster.nodes.filter((node) => node.role === CLUSTER_ROLE.MASTER)
    const replicas = cluster.nodes.filter((node) => node.role === CLUSTER_ROLE.REPLICA)
    expect(masters).toHaveLength(3)
    expect(replicas).toHaveLength(3)
    expect(new Set(replicas.map((node) => node.masterId))).toEqual(new Set(masters.map((node) => node.id)))
    expect(masters.flatMap((node) => node.slots).reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16_384)
    expect(cluster.nodes.map((node) => node.port)).not.toContain(6379)
    for (const { port } of cluster.nodes) {
      expect(parseInfo(await redisCommand({ host: '127.0.0.1', port }, ['CLUSTER', 'INFO'])).get('cluster_state')).toBe(
        'ok',
      )
    }
  })

  it('serves both clients, with multi-key scripts on one hash tag, before and after a replica takes over', async () => {
    await exercise('before')
    const master = await cluster.masterFor(tag)
    const promoted = await cluster.promoteReplica(master.port)
    expect(promoted.role).toBe(CLUSTER_ROLE.MASTER)
    expect(await cluster.masterFor(tag)).toMatchObject({ port: promoted.port })
    expect(cluster.nodes.find((node) => node.port === master.port)).toMatchObject({
      role: CLUSTER_ROLE.REPLICA,
      masterId: promoted.id,
    })
    // What was written before the failover is still there: the coordinated failover loses nothing.
    expect(await ioredis.get(`${tag}:io`)).toBe('before')
    expect(await nodeRedis.get(`${tag}:node`)).toBe('before')
    await exercise('after')
  }, 120_000)
})
