import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request the downstream received. */
export interface DownstreamRequest {
  /** When it arrived, on the clock the downstream was given. */
  readonly atMs: number
  /** Whether it arrived while the downstream was failing. */
  readonly duringOutage: boolean
  /** The status it was answered with: 200, or 503 during the outage. */
  readonly status: number
}

/** Options of {@link startDownstream}. */
export interface DownstreamOptions {
  /** The clock requests are timestamped with, in milliseconds. */
  readonly now: () => number
  /** How long each answer takes, in milliseconds (default 0). */
  readonly latencyMs?: number
}

/**
 * A local HTTP service standing in for the dependency a function calls: it answers 200 while
 * healthy and 503 while failing, and keeps a log of every request it receives.
 *
 * @example
 * ```ts
 * const downstream = await startDownstream({ now: () => performance.now() })
 * downstream.fail()
 * const response = await fetch(downstream.url) // 503
 * downstream.recover()
 * await downstream.close()
 * ```
 */
export interface Downstream {
  /** Where to send requests, `http://127.0.0.1:<port>/`. */
  readonly url: string
  /** Whether requests are answered with 503 now. */
  readonly failing: boolean
  /** Every request received so far, in arrival order. */
  readonly requests: readonly DownstreamRequest[]
  /** From now on, answers 503. */
  fail(): void
  /** From now on, answers 200. */
  recover(): void
  /** Stops the server and drops its connections. */
  close(): Promise<void>
}

/**
 * Starts a {@link Downstream} on a free loopback port.
 *
 * @example
 * ```ts
 * const downstream = await startDownstream({ now: () => performance.now(), latencyMs: 10 })
 * ```
 */
export async function startDownstream(options: DownstreamOptions): Promise<Downstream> {
  const { now, latencyMs = 0 } = options
  const requests: DownstreamRequest[] = []
  let failing = false
  const server: Server = createServer((request, response) => {
    const status = failing ? 503 : 200
    requests.push({ atMs: now(), duringOutage: failing, status })
    request.resume()
    const answer = () => {
      response.writeHead(status, { 'content-type': 'text/plain' })
      response.end(status === 200 ? 'ok' : 'service unavailable')
    }
    if (latencyMs > 0) setTimeout(answer, latencyMs)
    else answer()
  })
  // Clients keep connections alive between invocations, as a warm Lambda environment does; a
  // server-side idle timeout shorter than a run would race with reuse and look like a failure.
  server.keepAliveTimeout = 120_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    get failing() {
      return failing
    },
    requests,
    fail() {
      failing = true
    },
    recover() {
      failing = false
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      })
    },
  }
}
