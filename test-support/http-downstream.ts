import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A local HTTP service standing in for a dependency, whose health a test controls. */
export interface HttpDownstream {
  readonly url: string
  /** The status every request gets from now on (200 by default). */
  status: number
  /** Requests received, per path. */
  readonly requests: Map<string, number>
  /** All requests received. */
  readonly total: number
  stop(): Promise<void>
}

async function drain(request: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of request) body += String(chunk)
  return body
}

/** Starts a downstream on a free loopback port; it answers JSON with the status it is set to. */
export async function startHttpDownstream(): Promise<HttpDownstream> {
  const requests = new Map<string, number>()
  const state = { status: 200, total: 0 }
  const server: Server = createServer(async (request, response) => {
    const body = await drain(request)
    const path = request.url ?? '/'
    requests.set(path, (requests.get(path) ?? 0) + 1)
    state.total++
    response.writeHead(state.status, { 'Content-Type': 'application/json', Connection: 'close' })
    response.end(JSON.stringify({ path, echo: body === '' ? null : body, status: state.status }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get status() {
      return state.status
    },
    set status(status: number) {
      state.status = status
    },
    requests,
    get total() {
      return state.total
    },
    async stop() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
