/*
 * SCAN over each master a client reaches, for listing circuits. Scripts reach a circuit's node
 * through its key; a listing has no key, so it speaks to the nodes themselves: the one server of a
 * plain client, or every master of a cluster client, one after the other (a cluster's SCAN covers
 * only the node it is sent to). The clients are recognised by their shape, as in client.ts.
 */

/** One node to scan, named by its address so a cursor can say where it stopped. */
export interface ScanNode {
  /** `host:port` of a cluster master; `''` for the one server of a plain client. */
  readonly address: string
  scan(cursor: string, match: string, count: number): Promise<{ readonly cursor: string; readonly keys: string[] }>
}

type Send = (args: string[]) => Promise<unknown>

function method(target: object, name: string): ((...args: unknown[]) => unknown) | undefined {
  const value: unknown = Reflect.get(target, name)
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : undefined
}

/** A node that runs SCAN through `send`. */
function scanNode(address: string, send: Send): ScanNode {
  return {
    address,
    async scan(cursor, match, count) {
      const reply = await send(['SCAN', cursor, 'MATCH', match, 'COUNT', String(count)])
      return readScanReply(reply)
    },
  }
}

/** Reads SCAN's `[cursor, [key, ...]]` reply (strings or buffers). */
export function readScanReply(reply: unknown): { cursor: string; keys: string[] } {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) {
    throw new Error(`fleet-breaker: unexpected reply to SCAN: ${JSON.stringify(reply)}`)
  }
  const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value))
  return { cursor: text(reply[0]), keys: (reply[1] as unknown[]).map(text) }
}

/** How to send a raw command through a single-node client of either library, if it can. */
function sender(client: object): Send | undefined {
  // ioredis: call('SCAN', ...args); node-redis: sendCommand(['SCAN', ...args]).
  const call = method(client, 'call')
  if (call !== undefined && method(client, 'evalsha') !== undefined) return (args) => call(...args) as Promise<unknown>
  const sendCommand = method(client, 'sendCommand')
  if (sendCommand !== undefined) return (args) => sendCommand(args) as Promise<unknown>
  return undefined
}

/**
 * The masters to scan, in the order of their addresses (so that successive pages, perhaps from
 * another process, walk them in the same order).
 */
export async function scanNodesOf(client: object): Promise<ScanNode[]> {
  // ioredis Cluster: nodes('master') gives a Redis client per master.
  const nodes = method(client, 'nodes')
  if (nodes !== undefined && method(client, 'evalsha') !== undefined) {
    const masters = nodes('master') as object[]
    return sortByAddress(
      masters.map((master) => {
        const options = Reflect.get(master, 'options') as { host?: string; port?: number } | undefined
        const send = sender(master)
        if (send === undefined) throw new Error('fleet-breaker: a cluster node cannot send SCAN')
        return scanNode(`${options?.host ?? ''}:${options?.port ?? ''}`, send)
      }),
    )
  }
  // node-redis cluster: `masters` and `nodeClient(master)`.
  const masters: unknown = Reflect.get(client, 'masters')
  const nodeClient = method(client, 'nodeClient')
  if (Array.isArray(masters) && nodeClient !== undefined) {
    return sortByAddress(
      masters.map((master: { address?: string; host?: string; port?: number }) =>
        scanNode(master.address ?? `${master.host}:${master.port}`, async (args) => {
          const nodeOf = (await nodeClient(master)) as object
          const send = sender(nodeOf)
          if (send === undefined) throw new Error('fleet-breaker: a cluster node cannot send SCAN')
          return send(args)
        }),
      ),
    )
  }
  const send = sender(client)
  if (send === undefined) {
    throw new Error('fleet-breaker: listing circuits needs a client that can send SCAN (ioredis or node-redis)')
  }
  return [scanNode('', send)]
}

function sortByAddress(nodes: ScanNode[]): ScanNode[] {
  return nodes.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
}
