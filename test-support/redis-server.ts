import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, redisServerInstalled } from './redis-setup.js'
import { parseInfo, redisCommand } from './resp.js'

/*
 * A redis-server of a test's own, for tests that restart, kill or reconfigure the server: the shared
 * one on 6379 is never touched. The server listens on 127.0.0.1 only, keeps nothing on disk
 * (`--save "" --appendonly no`) and writes its log into a temporary directory of its own.
 *
 * The server runs under a tiny `sh` watcher that holds the read end of a pipe from this process:
 * if the test process dies without stopping its servers (a crashed or force-exited Jest worker),
 * the pipe closes and the watcher kills the server, so no redis-server outlives the test run.
 */

export interface RedisServerOptions {
  /** A fixed port. By default a free one, and another if it is taken before the server binds it. */
  readonly port?: number
  /**
   * More `redis-server` arguments, e.g. `['--maxmemory', '1mb']`; a function is called again for
   * every start (restarts included), so it can pick ports of its own each time.
   */
  readonly args?: readonly string[] | ((port: number) => Promise<readonly string[]> | readonly string[])
  /** The working directory (`--dir`, the log). By default a new temporary directory, removed by `stop()`. */
  readonly dir?: string
  /** How long a start may take before it fails. Generous: a busy two-core machine is slow to fork. */
  readonly startTimeoutMs?: number
}

/** A running private server. */
export interface RedisServer {
  readonly host: string
  /** The same across restarts. */
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly dir: string
  /** The server's process id, or undefined while it is down. */
  readonly pid: number | undefined
  readonly running: boolean
  /** The end of the server's log, for failure messages. */
  log(): Promise<string>
  /**
   * Kills the server (SIGKILL, as a crash) and starts a new one on the same port; resolves once it
   * answers. Nothing is persisted, so the data and the script cache are gone.
   */
  restart(): Promise<void>
  /** Kills the server like a crash (SIGKILL); `restart()` brings it back. */
  kill(): Promise<void>
  /** Shuts the server down for good (SIGTERM, then SIGKILL after 5 s) and removes its temporary directory. */
  stop(): Promise<void>
}

/*
 * The watcher: starts redis-server in the background, prints its pid, and waits for it. A
 * background job's stdin is /dev/null, so the pipe from the test process is passed on as fd 3.
 */
const WATCHER = [
  'exec 3<&0',
  'redis-server "$@" 3<&- </dev/null &',
  'server=$!',
  'echo "$server"',
  '( read -r _ <&3; kill -9 "$server" 2>/dev/null ) &',
  'watcher=$!',
  'wait "$server"',
  'status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n')

type WatchedChild = ChildProcessByStdio<Writable, Readable, Readable>

interface Launched {
  readonly child: WatchedChild
  readonly pid: number
  readonly output: () => string
}

function exited(child: WatchedChild): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

async function waitForExit(child: WatchedChild, ms: number): Promise<boolean> {
  if (exited(child)) return true
  const controller = new AbortController()
  try {
    await Promise.race([once(child, 'exit'), sleep(ms, undefined, { signal: controller.signal })])
  } catch {
    // once() rejects only on an 'error' event: the process could not be spawned; it is gone anyway.
  } finally {
    controller.abort()
  }
  return exited(child)
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name)
  } catch {
    // Already gone.
  }
}

/** Spawns the watcher and redis-server, and resolves with the server's pid once the watcher printed it. */
async function launch(port: number, dir: string, args: readonly string[]): Promise<Launched> {
  const child = spawn(
    'sh',
    [
      '-c',
      WATCHER,
      'redis-watcher',
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--dir',
      dir,
      '--logfile',
      join(dir, 'redis.log'),
      ...args,
    ],
    { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000)
  }
  child.stderr.on('data', keep)
  // The stdin pipe breaks when the watcher exits; that is expected.
  child.stdin.on('error', () => {})
  const pid = await new Promise<number>((resolve, reject) => {
    let first = ''
    const onData = (chunk: Buffer) => {
      first += chunk.toString()
      const newline = first.indexOf('\n')
      if (newline < 0) return
      child.stdout.off('data', onData)
      child.stdout.on('data', keep)
      keep(Buffer.from(first.slice(newline + 1)))
      resolve(Number(first.slice(0, newline)))
    }
    child.stdout.on('data', onData)
    child.once('error', reject)
    child.once('exit', () => reject(new Error(`the redis-server watcher exited at once: ${output}`)))
  })
  return { child, pid, output: () => output }
}

/** Whether the server on `port` answers, and is the process we started rather than another one. */
async function answersAs(port: number, pid: number): Promise<boolean> {
  try {
    const info = parseInfo(await redisCommand({ host: '127.0.0.1', port }, ['INFO', 'server'], { timeoutMs: 2_000 }))
    return info.get('process_id') === String(pid)
  } catch {
    return false
  }
}

async function tail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-15).join('\n')
  } catch {
    return ''
  }
}

class PortTaken extends Error {
  override readonly name = 'PortTaken'
}

/** Starts one server on `port`, waiting until it answers as itself; PortTaken if it could not bind. */
async function startOn(port: number, dir: string, args: readonly string[], timeoutMs: number): Promise<Launched> {
  const launched = await launch(port, dir, args)
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exited(launched.child)) break
    if (await answersAs(port, launched.pid)) return launched
    await sleep(25)
  }
  await waitForExit(launched.child, 0)
  if (!exited(launched.child)) {
    signal(launched.pid, 'SIGKILL')
    await waitForExit(launched.child, 5_000)
  }
  const log = `${launched.output()}\n${await tail(join(dir, 'redis.log'))}`
  if (/already in use|Could not create server TCP listening socket/i.test(log)) {
    throw new PortTaken(`port ${port} is taken`)
  }
  throw new Error(`redis-server did not answer on 127.0.0.1:${port} within ${timeoutMs} ms. Its log:\n${log}`)
}

/**
 * Starts a private redis-server and resolves once it answers PING (as itself: a server another
 * test started on the same port does not count).
 *
 * @example
 * const server = await startRedisServer()
 * const client = new Redis(server.url)
 * await server.restart() // same port, empty
 * await server.stop()
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  if (!redisServerInstalled()) throw new Error('redis-server is not installed (apt-get install redis-server)')
  const timeoutMs = options.startTimeoutMs ?? 20_000
  const ownDir = options.dir === undefined
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'fleet-breaker-redis-')))
  const argsFor = async (port: number): Promise<readonly string[]> =>
    typeof options.args === 'function' ? await options.args(port) : (options.args ?? [])

  /** Starts on `port`; a port taken by a moment's outgoing connection is tried again for a while. */
  async function startFixed(port: number): Promise<Launched> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOn(port, dir, await argsFor(port), timeoutMs)
      } catch (error) {
        if (!(error instanceof PortTaken) || attempt >= 10) throw error
        await sleep(200)
      }
    }
  }

  let port = options.port ?? 0
  let current: Launched | undefined
  try {
    if (options.port !== undefined) current = await startFixed(port)
    else {
      // A free port can be taken by another process before the server binds it: pick another one.
      for (let attempt = 1; current === undefined; attempt++) {
        port = await freePort()
        try {
          current = await startOn(port, dir, await argsFor(port), timeoutMs)
        } catch (error) {
          if (!(error instanceof PortTaken) || attempt >= 5) throw error
        }
      }
    }
  } catch (error) {
    if (ownDir) await rm(dir, { recursive: true, force: true })
    throw error
  }
  let stopped = false

  async function killCurrent(): Promise<void> {
    const launched = current
    current = undefined
    if (launched === undefined) return
    signal(launched.pid, 'SIGKILL')
    await waitForExit(launched.child, 10_000)
  }

  const host = '127.0.0.1'
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    dir,
    get pid() {
      return current?.pid
    },
    get running() {
      return current !== undefined && !exited(current.child)
    },
    log: () => tail(join(dir, 'redis.log')),
    async restart() {
      if (stopped) throw new Error('This redis-server was stopped for good; start a new one')
      await killCurrent()
      current = await startFixed(port)
    },
    kill: killCurrent,
    async stop() {
      if (stopped) return
      stopped = true
      const launched = current
      current = undefined
      if (launched !== undefined) {
        signal(launched.pid, 'SIGTERM')
        if (!(await waitForExit(launched.child, 5_000))) {
          signal(launched.pid, 'SIGKILL')
          await waitForExit(launched.child, 5_000)
        }
      }
      if (ownDir) await rm(dir, { recursive: true, force: true })
    },
  }
}
