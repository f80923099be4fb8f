import { once } from 'node:events'
import { createServer, type Server, type Socket } from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from '@jest/globals'
import { FleetBreakerClient } from '../../src/client.js'
import { runToExit } from '../support/run-to-exit.js'

/*
 * Both clients against something on the extension's port that is not a healthy extension: it
 * answers garbage, or trickles its answer forever. A client must allow the call (fail open) and
 * give up within its timeout; it must never raise or refuse because of what it was answered.
 */

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../clients/python')

/** Garbage answers, each a complete HTTP/1.1 response with status 200. */
const GARBAGE: Record<string, string> = {
  'JSON null': 'null',
  'an empty object': '{}',
  'allowed as a string': '{"allowed":"no","state":"OPEN"}',
  'deeply nested JSON': `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
  'not JSON': '<html>hello</html>',
}

const MALFORMED_REFUSAL = '{"allowed":false,"state":"OPEN","retryAfterMs":"soon"}'

const servers: Server[] = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.close()
    await once(server, 'close')
  }
})

/** A TCP server on a free loopback port answering every connection with `answer`. */
async function hostileServer(answer: (socket: Socket) => void): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    answer(socket)
  })
  server.on('close', () => {
    for (const socket of sockets) socket.destroy()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  servers.push(server)
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  // Stop the server from waiting on sockets at close.
  const close = server.close.bind(server)
  server.close = ((callback?: (error?: Error) => void) => {
    for (const socket of sockets) socket.destroy()
    return close(callback)
  }) as Server['close']
  return address.port
}

function answering(body: string) {
  return (socket: Socket) => {
    socket.once('data', () => {
      socket.end(
        `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      )
    })
  }
}

/** Answers one header byte every 100 ms, forever. */
function trickling(socket: Socket) {
  const bytes =
    'HTTP/1.1 200 OK\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
  let sent = 0
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer)
    socket.write(bytes[sent % bytes.length] ?? 'a')
    sent++
  }, 100)
  socket.on('close', () => clearInterval(timer))
}

/** Runs a Python snippet with the client importable; resolves with what it printed as JSON. */
async function python(port: number, snippet: string): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await runToExit('python3', ['-c', snippet], {
    env: { PYTHONPATH: clientDir, PYTHONDONTWRITEBYTECODE: '1', PORT: String(port) },
  })
  if (code !== 0) throw new Error(`python3 exited ${code}: ${stderr.slice(-2_000)}`)
  return JSON.parse(stdout) as Record<string, unknown>
}

const PYTHON_FLOWS = `
import json, os, time
from fleet_breaker_client import FleetBreakerClient
client = FleetBreakerClient(port=int(os.environ["PORT"]), timeout=0.5)
started = time.monotonic()
admission = client.admit("payment-api", request_id="r-1")
calls = client.call("payment-api", lambda: "made")
check = client.check("payment-api")
client.record_failure("payment-api")
client.success(admission)
print(json.dumps({"allowed": admission.allowed, "failedOpen": admission.failed_open, "call": calls,
                  "checkAllowed": check["allowed"], "seconds": time.monotonic() - started}))
`

describe('the Python client against a broken extension', () => {
  for (const [name, body] of Object.entries(GARBAGE)) {
    it(`fails open on ${name}`, async () => {
      const port = await hostileServer(answering(body))
      const result = await python(port, PYTHON_FLOWS)
      expect(result).toMatchObject({ allowed: true, failedOpen: true, call: 'made', checkAllowed: true })
    }, 60_000)
  }

  it('honours a refusal whose retryAfterMs is malformed, without raising anything else', async () => {
    const port = await hostileServer(answering(MALFORMED_REFUSAL))
    const result = await python(
      port,
      `
import json, os
from fleet_breaker_client import CircuitRejected, FleetBreakerClient
client = FleetBreakerClient(port=int(os.environ["PORT"]), timeout=0.5)
admission = client.admit("payment-api")
try:
    client.call("payment-api", lambda: "made")
    rejected = None
except CircuitRejected as error:
    rejected = error.retry_after_seconds
print(json.dumps({"allowed": admission.allowed, "retryAfterMs": admission.retry_after_ms, "rejected": rejected}))
`,
    )
    expect(result).toEqual({ allowed: false, retryAfterMs: 0, rejected: 1 })
  }, 60_000)

  it('gives up on an answer trickled forever within its timeout', async () => {
    const port = await hostileServer(trickling)
    const result = await python(port, PYTHON_FLOWS)
    expect(result).toMatchObject({ allowed: true, failedOpen: true, call: 'made', checkAllowed: true })
    // Six requests of at most 0.5 s each; a per-read timeout alone would never end.
    expect(result.seconds).toBeLessThan(30)
  }, 90_000)
})

describe('the Node.js client against a broken extension', () => {
  for (const [name, body] of Object.entries(GARBAGE)) {
    it(`fails open on ${name}`, async () => {
      const port = await hostileServer(answering(body))
      const client = new FleetBreakerClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500 })
      const admission = await client.admit('payment-api')
      expect(admission).toMatchObject({ allowed: true, failedOpen: true })
      await expect(client.execute('payment-api', async () => 'made')).resolves.toBe('made')
      expect((await client.check('payment-api')).allowed).toBe(true)
      await client.recordFailure('payment-api')
    }, 60_000)
  }

  it('honours a refusal whose retryAfterMs is malformed', async () => {
    const port = await hostileServer(answering(MALFORMED_REFUSAL))
    const client = new FleetBreakerClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500 })
    expect(await client.admit('payment-api')).toMatchObject({ allowed: false, retryAfterMs: 0 })
  }, 60_000)

  it('gives up on an answer trickled forever within its timeout', async () => {
    const port = await hostileServer(trickling)
    const client = new FleetBreakerClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500 })
    await expect(client.execute('payment-api', async () => 'made')).resolves.toBe('made')
  }, 60_000)
})
