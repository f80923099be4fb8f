// Jest loads this file natively as its global setup, so it imports nothing local.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** Answers true when a Redis server at `url` replies to PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url)
  const socket = new Socket()
  try {
    socket.setTimeout(timeoutMs)
    const replied = new Promise<boolean>((resolve) => {
      socket.once('data', (data) => resolve(data.toString().startsWith('+PONG')))
      socket.once('error', () => resolve(false))
      socket.once('timeout', () => resolve(false))
    })
    socket.connect(Number(port || 6379), hostname.replace(/^\[|\]$/g, ''), () => socket.write('PING\r\n'))
    return await replied
  } finally {
    socket.destroy()
  }
}

/** Whether a `redis-server` binary is on the PATH. */
export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** A private `redis-server` this process started: no persistence, loopback only. */
export interface PrivateRedis {
  readonly url: string
  readonly port: number
  stop(): Promise<void>
}

/** Starts a private `redis-server` on `port` (a free one by default) and waits until it answers. */
export async function startPrivateRedis(port?: number): Promise<PrivateRedis> {
  const chosen = port ?? (await freePort())
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { stdio: 'ignore' },
  )
  const url = `redis://127.0.0.1:${chosen}`
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await redisAnswers(url, 200)) {
      return {
        url,
        port: chosen,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill('SIGKILL')
          await once(child, 'exit')
        },
      }
    }
    if (child.exitCode !== null) break
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`redis-server did not start on port ${chosen}`)
}

/*
 * Finds the Redis server the integration tests use: REDIS_URL if set, else 127.0.0.1:6379, else a
 * private redis-server started here. When none can be had, Redis tests fail with the reason in
 * FLEET_BREAKER_TEST_REDIS_ERROR; they are never skipped.
 */
declare global {
  var __fleetBreakerPrivateRedis: PrivateRedis | undefined
}

export default async function globalSetup(): Promise<void> {
  const candidates = [process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter((url): url is string => Boolean(url))
  for (const url of candidates) {
    if (await redisAnswers(url)) {
      process.env.FLEET_BREAKER_TEST_REDIS_URL = url
      return
    }
  }
  if (!redisServerInstalled()) {
    process.env.FLEET_BREAKER_TEST_REDIS_ERROR =
      `No Redis server answered at ${candidates.join(' or ')} and no redis-server binary is installed. ` +
      'Start one, set REDIS_URL, or install redis-server (apt-get install redis-server); .ci/run does the latter.'
    return
  }
  const redis = await startPrivateRedis()
  globalThis.__fleetBreakerPrivateRedis = redis
  process.env.FLEET_BREAKER_TEST_REDIS_URL = redis.url
}
