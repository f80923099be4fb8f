import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from '@jest/globals'
import { type RedisServer, startRedisServer } from '../redis-server.js'
import { redisCommand } from '../resp.js'

const servers: RedisServer[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()))
})

async function start(options?: Parameters<typeof startRedisServer>[0]): Promise<RedisServer> {
  const server = await startRedisServer(options)
  servers.push(server)
  return server
}

const temporaryDirectories = async () =>
  (await readdir(tmpdir())).filter((name) => name.startsWith('fleet-breaker-redis-')).sort()

const at = (server: RedisServer) => ({ host: server.host, port: server.port })

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(condition: () => boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await sleep(50)
  return condition()
}

describe('a private redis-server', () => {
  it('answers on its own ephemeral port, without persistence, in a directory that stop() removes', async () => {
    const server = await start()
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    expect(server.port).not.toBe(6379)
    expect(await redisCommand(at(server), ['PING'])).toBe('PONG')
    expect(await redisCommand(at(server), ['CONFIG', 'GET', 'save'])).toEqual(['save', ''])
    expect(await redisCommand(at(server), ['CONFIG', 'GET', 'appendonly'])).toEqual(['appendonly', 'no'])
    expect(existsSync(server.dir)).toBe(true)
    await server.stop()
    expect(server.running).toBe(false)
    expect(existsSync(server.dir)).toBe(false)
    await expect(redisCommand(at(server), ['PING'], { timeoutMs: 1_000 })).rejects.toThrow()
  }, 30_000)

  it('restarts on the same port with its data gone, and comes back after a kill', async () => {
    const server = await start()
    await redisCommand(at(server), ['SET', 'kept?', 'yes'])
    const firstPid = server.pid
    await server.restart()
    expect(server.pid).not.toBe(firstPid)
    expect(await redisCommand(at(server), ['GET', 'kept?'])).toBeNull()

    await server.kill()
    expect(server.running).toBe(false)
    await expect(redisCommand(at(server), ['PING'], { timeoutMs: 1_000 })).rejects.toThrow()
    await server.restart()
    expect(await redisCommand(at(server), ['PING'])).toBe('PONG')
  }, 30_000)

  it('takes extra arguments', async () => {
    const server = await start({ args: ['--maxmemory', '2mb'] })
    expect(await redisCommand(at(server), ['CONFIG', 'GET', 'maxmemory'])).toEqual([
      'maxmemory',
      String(2 * 1024 * 1024),
    ])
  }, 30_000)

  it('reports a server that cannot start, with its log, and leaves no directory behind', async () => {
    const before = await temporaryDirectories()
    await expect(start({ args: ['--no-such-option', 'x'], startTimeoutMs: 5_000 })).rejects.toThrow(/no-such-option/i)
    expect(await temporaryDirectories()).toEqual(before)
  }, 30_000)

  it('does not outlive a test process that dies without stopping it', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/orphaned-redis-server.ts', import.meta.url))
    let orphanDir: string | undefined
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      const { pid, port, dir } = JSON.parse(line.toString()) as { pid: number; port: number; dir: string }
      orphanDir = dir
      expect(alive(pid)).toBe(true)
      expect(await redisCommand({ host: '127.0.0.1', port }, ['PING'])).toBe('PONG')
      child.kill('SIGKILL')
      expect(await until(() => !alive(pid))).toBe(true)
    } finally {
      child.kill('SIGKILL')
      // Nobody was left to remove the dead process's directory.
      if (orphanDir !== undefined) await rm(orphanDir, { recursive: true, force: true })
    }
  }, 60_000)
})
