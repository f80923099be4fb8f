import { once } from 'node:events'
import { type AddressInfo, createServer, type Server, Socket } from 'node:net'

/** How the proxy treats connections: pass them on, or accept them and never answer. */
export type ProxyMode = 'forward' | 'black-hole'

/**
 * A TCP proxy in front of a real server, for store outages: in `black-hole` mode it accepts
 * connections and never answers (the worst case for a caller: no error, just silence).
 */
export interface TcpProxy {
  readonly port: number
  mode: ProxyMode
  /** Connections the proxy held open in black-hole mode that the client has since closed. */
  readonly abandonedByClient: number
  stop(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let abandonedByClient = 0
  const proxy: { mode: ProxyMode } = { mode: 'forward' }
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    if (proxy.mode === 'black-hole') {
      // Read and drop whatever arrives, so the client's hang-up is noticed.
      client.resume()
      client.on('close', () => abandonedByClient++)
      return
    }
    const upstream = new Socket()
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
    upstream.connect(target.port, target.host, () => {
      client.pipe(upstream)
      upstream.pipe(client)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    get mode() {
      return proxy.mode
    },
    set mode(mode: ProxyMode) {
      proxy.mode = mode
      // A switch affects new connections; drop the pooled ones so clients reconnect.
      for (const socket of sockets) socket.destroy()
    },
    get abandonedByClient() {
      return abandonedByClient
    },
    async stop() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
