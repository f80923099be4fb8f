import { execFile, spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type RedisServer, startRedisServer } from './redis-server.js'
import { freePort } from './redis-setup.js'
import { parseInfo, type RedisAddress, redisCommand } from './resp.js'

/*
 * A real Redis Cluster on this machine, for the store's cluster behaviour: keys of one circuit share
 * a hash tag, so its multi-key scripts must be accepted by a cluster and must keep working when a
 * replica takes over a master's slots. Six redis-server processes in cluster mode (three masters,
 * three replicas) on ephemeral loopback ports, joined by `redis-cli --cluster create`.
 *
 * Start-up takes about 7 s on a two-core machine (longer when it is busy): about 2 s to start the six
 * processes, 3 s in `redis-cli --cluster create` (it waits for the nodes to agree on the
 * configuration, polling once a second), and 2 s for the replicas' first sync. A promotion takes
 * about 2 s. Start one cluster per test file (in beforeAll), not one per test. Nothing is persisted:
 * each node keeps its nodes.conf in a temporary directory that stop() removes.
 */

export const CLUSTER_ROLE = { MASTER: 'master', REPLICA: 'replica' } as const
export type ClusterRole = (typeof CLUSTER_ROLE)[keyof typeof CLUSTER_ROLE]

/** One node as the cluster last reported it. */
export interface ClusterNode {
  readonly host: string
  readonly port: number
  readonly role: ClusterRole
  /** The cluster's node id (40 hex characters). */
  readonly id: string
  /** For a replica: the id of its master. */
  readonly masterId?: string
  /** For a master: the hash slot ranges it serves, inclusive. */
  readonly slots: readonly (readonly [number, number])[]
}

export interface RedisClusterOptions {
  /**
   * `cluster-node-timeout`: how long a node may be unreachable before it is suspected to have failed.
   * 5 s by default, long enough that a busy machine does not produce failovers of its own.
   */
  readonly nodeTimeoutMs?: number
  /** How long start-up, and each promotion, may take before it fails. */
  readonly timeoutMs?: number
}

/** A running cluster. */
export interface RedisCluster {
  /** Every node with the role it had at start-up or after the last promotion / refresh(). */
  readonly nodes: readonly ClusterNode[]
  /** All six nodes, in the shape ioredis's `new Cluster(startupNodes)` takes. */
  readonly startupNodes: readonly RedisAddress[]
  /** All six nodes as `redis://` URLs: node-redis takes `createCluster({ rootNodes: urls.map((url) => ({ url })) })`. */
  readonly urls: readonly string[]
  /** The master serving a key's hash slot (asked of the cluster, so hash tags count). */
  masterFor(key: string): Promise<ClusterNode>
  /**
   * Makes a replica of the master on `masterPort` take over its slots with `CLUSTER FAILOVER` (the
   * coordinated kind: the old master stops taking writes until the replica has caught up, so
   * nothing acknowledged is lost), and resolves with the new master once every node agrees, the
   * old master follows it as a replica, and cluster_state is ok everywhere.
   */
  promoteReplica(masterPort: number): Promise<ClusterNode>
  /** Asks the cluster for its current topology and updates `nodes`. */
  refresh(): Promise<readonly ClusterNode[]>
  /** Kills all six processes and removes their directory. */
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const SLOTS = 16_384

/** Whether `redis-cli` (needed for `--cluster create`) is on the PATH. */
export function redisCliInstalled(): boolean {
  return spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0
}

interface NodeView {
  readonly id: string
  readonly port: number
  readonly flags: readonly string[]
  readonly masterId: string | undefined
  readonly connected: boolean
  readonly slots: readonly (readonly [number, number])[]
}

/** Parses CLUSTER NODES: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`. */
function parseClusterNodes(reply: unknown): NodeView[] {
  if (typeof reply !== 'string') throw new Error(`CLUSTER NODES answered ${String(reply)}`)
  return reply
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , link = '', ...slotFields] = line.trim().split(' ')
      const port = Number(address.split('@')[0]?.split(':').pop())
      const slots: [number, number][] = []
      for (const field of slotFields) {
        // Slots being migrated are shown as [slot->-id] / [slot-<-id]; a fresh cluster has none.
        if (field.startsWith('[')) continue
        const [from, to = from] = field.split('-')
        slots.push([Number(from), Number(to)])
      }
      return {
        id,
        port,
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
        connected: link === 'connected',
        slots,
      }
    })
}

function toNode(view: NodeView): ClusterNode {
  const master = view.flags.includes('master')
  return {
    host: HOST,
    port: view.port,
    role: master ? CLUSTER_ROLE.MASTER : CLUSTER_ROLE.REPLICA,
    id: view.id,
    ...(master || view.masterId === undefined ? {} : { masterId: view.masterId }),
    slots: master ? view.slots : [],
  }
}

function summarise(nodes: readonly ClusterNode[]): string {
  return nodes
    .map((node) => `${node.port}:${node.role}${node.masterId === undefined ? '' : `->${node.masterId.slice(0, 8)}`}`)
    .sort()
    .join(' ')
}

/**
 * The topology if the cluster is settled, else why not: every node answers, says cluster_state:ok
 * with all slots assigned and served, sees every other node connected and none failing, all nodes
 * describe the same masters and replicas, the masters cover all slots, and every replica's link to
 * its master is up (a replica that has not synced cannot take over).
 */
async function settledTopology(ports: readonly number[]): Promise<ClusterNode[] | string> {
  let agreed: string | undefined
  let topology: ClusterNode[] = []
  for (const port of ports) {
    const address = { host: HOST, port }
    try {
      const info = parseInfo(await redisCommand(address, ['CLUSTER', 'INFO']))
      if (info.get('cluster_state') !== 'ok') return `${port}: cluster_state ${info.get('cluster_state')}`
      if (info.get('cluster_slots_ok') !== String(SLOTS)) return `${port}: ${info.get('cluster_slots_ok')} slots ok`
      const views = parseClusterNodes(await redisCommand(address, ['CLUSTER', 'NODES']))
      if (views.length !== ports.length) return `${port}: knows ${views.length} nodes`
      const unwell = views.find(
        (view) =>
          view.flags.some((flag) => ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag)) ||
          (!view.flags.includes('myself') && !view.connected),
      )
      if (unwell !== undefined) return `${port}: sees ${unwell.port} as ${unwell.flags.join(',')}`
      const nodes = views.map(toNode)
      const covered = nodes.reduce((sum, node) => sum + node.slots.reduce((n, [from, to]) => n + to - from + 1, 0), 0)
      if (covered !== SLOTS) return `${port}: masters cover ${covered} slots`
      const summary = summarise(nodes)
      if (agreed !== undefined && agreed !== summary) return `nodes disagree: ${agreed} / ${summary}`
      agreed = summary
      topology = nodes
      const self = views.find((view) => view.flags.includes('myself'))
      if (self?.flags.includes('slave')) {
        const replication = parseInfo(await redisCommand(address, ['INFO', 'replication']))
        if (replication.get('master_link_status') !== 'up')
          return `${port}: replica link ${replication.get('master_link_status')}`
      }
    } catch (error) {
      return `${port}: ${error instanceof Error ? error.message : String(error)}`
    }
  }
  return topology.sort((a, b) => a.port - b.port)
}

async function waitUntilSettled(
  ports: readonly number[],
  timeoutMs: number,
  also: (nodes: readonly ClusterNode[]) => string | undefined = () => undefined,
): Promise<ClusterNode[]> {
  const deadline = Date.now() + timeoutMs
  let reason = ''
  while (Date.now() < deadline) {
    const result = await settledTopology(ports)
    if (typeof result !== 'string') {
      const unmet = also(result)
      if (unmet === undefined) return result
      reason = unmet
    } else reason = result
    await sleep(100)
  }
  throw new Error(`The Redis Cluster did not settle within ${timeoutMs} ms: ${reason}`)
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/**
 * Starts a cluster of three masters and three replicas, resolving once it is settled.
 *
 * @example
 * const cluster = await startRedisCluster()
 * const client = new Cluster([...cluster.startupNodes])
 * await client.set('{circuit:payments}:state', 'OPEN')
 * const master = await cluster.masterFor('{circuit:payments}')
 * await cluster.promoteReplica(master.port) // the replica now serves those slots
 * await client.quit()
 * await cluster.stop()
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  if (!redisCliInstalled()) throw new Error('redis-cli is not installed (apt-get install redis-tools)')
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 5_000
  const timeoutMs = options.timeoutMs ?? 60_000
  const root = await mkdtemp(join(tmpdir(), 'fleet-breaker-cluster-'))
  const servers: RedisServer[] = []

  async function stop(): Promise<void> {
    // No persistence and no graceful hand-over to wait for: a kill is quickest.
    await Promise.all(
      servers.map(async (server) => {
        await server.kill()
        await server.stop()
      }),
    )
    await rm(root, { recursive: true, force: true })
  }

  try {
    const started = await Promise.allSettled(
      Array.from({ length: 6 }, async (_, index) => {
        const dir = join(root, `node-${index}`)
        await mkdir(dir)
        const server = await startRedisServer({
          dir,
          startTimeoutMs: timeoutMs,
          // The cluster bus needs a port of its own (by default port + 10000, which may be taken or past 65535).
          args: async (port) => {
            let busPort = await freePort()
            while (busPort === port) busPort = await freePort()
            return [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-port',
              String(busPort),
              '--cluster-node-timeout',
              String(nodeTimeoutMs),
              // Replicas sync at once instead of after the default 5 s wait for more replicas.
              '--repl-diskless-sync-delay',
              '0',
              '--loglevel',
              'warning',
            ]
          },
        })
        servers.push(server)
        return server
      }),
    )
    const failed = started.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    const ports = servers.map((server) => server.port).sort((a, b) => a - b)

    await run(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((port) => `${HOST}:${port}`), '--cluster-replicas', '1', '--cluster-yes'],
      timeoutMs,
    )
    let nodes = await waitUntilSettled(ports, timeoutMs, (settled) => {
      const masters = settled.filter((node) => node.role === CLUSTER_ROLE.MASTER).length
      return masters === 3 ? undefined : `${masters} masters`
    })

    return {
      get nodes() {
        return nodes
      },
      startupNodes: ports.map((port) => ({ host: HOST, port })),
      urls: ports.map((port) => `redis://${HOST}:${port}`),
      async masterFor(key) {
        const slot = await redisCommand({ host: HOST, port: ports[0] ?? 0 }, ['CLUSTER', 'KEYSLOT', key])
        if (typeof slot !== 'number') throw new Error(`CLUSTER KEYSLOT answered ${String(slot)}`)
        nodes = await waitUntilSettled(ports, timeoutMs)
        const master = nodes.find((node) => node.slots.some(([from, to]) => slot >= from && slot <= to))
        if (master === undefined) throw new Error(`No master serves slot ${slot}`)
        return master
      },
      async promoteReplica(masterPort) {
        nodes = await waitUntilSettled(ports, timeoutMs)
        const master = nodes.find((node) => node.port === masterPort)
        if (master?.role !== CLUSTER_ROLE.MASTER) {
          throw new Error(`No master on port ${masterPort}; the nodes are ${summarise(nodes)}`)
        }
        const replica = nodes.find((node) => node.masterId === master.id)
        if (replica === undefined) throw new Error(`The master on port ${masterPort} has no replica`)
        const replicaAddress = { host: HOST, port: replica.port }
        const deadline = Date.now() + timeoutMs
        // A manual failover gives up after 5 s without telling anyone; on a busy machine, ask again.
        for (;;) {
          await redisCommand(replicaAddress, ['CLUSTER', 'FAILOVER']).catch((error: unknown) => {
            // Already promoted by an earlier request: the wait below sees it.
            if (!/replica|slave/i.test(String(error))) throw error
          })
          try {
            nodes = await waitUntilSettled(ports, Math.min(10_000, Math.max(deadline - Date.now(), 0)), (settled) => {
              const promoted = settled.find((node) => node.id === replica.id)
              const demoted = settled.find((node) => node.id === master.id)
              if (promoted?.role !== CLUSTER_ROLE.MASTER) return `${replica.port} is still a replica`
              if (demoted?.masterId !== replica.id) return `${master.port} does not follow ${replica.port} yet`
              return undefined
            })
            break
          } catch (error) {
            if (Date.now() >= deadline) throw error
          }
        }
        const promoted = nodes.find((node) => node.id === replica.id)
        if (promoted === undefined) throw new Error('The promoted replica left the cluster')
        return promoted
      },
      async refresh() {
        nodes = await waitUntilSettled(ports, timeoutMs)
        return nodes
      },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
