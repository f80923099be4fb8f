import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type RedisServer, startRedisServer } from '../../../../test-support/redis-server.js'
import {
  type BlackHole,
  type BuiltCli,
  baseEnv,
  buildCli,
  dynamoEnv,
  eventually,
  expectOneLineFailure,
  runCli,
  startBlackHole,
  startCli,
} from '../support/cli.js'

// Subprocesses against a private Redis (killed and restarted here) on a loaded machine.
jest.setTimeout(180_000)

/*
 * The CLI under hostile input and a failing store: every bad value is a usage error naming the
 * option (exit 2), every store problem one line and exit 1 within a bounded time, never a hang or
 * a stack trace; ids and texts of any shape survive the round trip; `watch` outlives its store.
 */

let cli: BuiltCli
let redis: RedisServer
let silent: BlackHole

beforeAll(async () => {
  ;[cli, redis, silent] = await Promise.all([buildCli(), startRedisServer(), startBlackHole()])
})

afterAll(async () => {
  await Promise.all([cli?.remove(), redis?.stop(), silent?.stop()])
})

function env(extra: Record<string, string> = {}) {
  return baseEnv({ CIRCUIT_BREAKER_STORE: 'redis', CIRCUIT_BREAKER_REDIS_URL: redis.url, ...extra })
}

async function fb(args: readonly string[], extra: Record<string, string> = {}) {
  return runCli(cli, args, env(extra))
}

async function ok(args: readonly string[]) {
  const result = await fb(args)
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
  return result
}

describe('fleet-breaker with hostile input', () => {
  it('refuses a duration past ten years as a usage error naming --for, before touching the store', async () => {
    for (const value of ['10000d', '3651d', '87601h', '99999999999999999999d']) {
      const result = await fb(['open', 'never-created', '--reason', 'x', '--actor', 'a', '--for', value])
      expectOneLineFailure(result, 2)
      expect(result.stderr).toContain('--for')
      expect(result.stderr).toContain(value)
    }
    for (const value of ['0', '-5m', '1.5h', '1e3s', '30', ' ', '5x']) {
      const result = await fb(['close', 'never-created', '--actor', 'a', '--for', value])
      expectOneLineFailure(result, 2)
      expect(result.stderr).toContain('--for')
    }
    const longest = await ok([
      'open',
      'decade-api',
      '--reason',
      'x',
      '--actor',
      'a',
      '--for',
      '3650d',
      '--create',
      '--json',
    ])
    expect(JSON.stringify(JSON.parse(longest.stdout))).toContain('"state":"OPEN"')
  })

  it('round-trips ids and texts of any shape, its JSON always parseable', async () => {
    const ids = [
      'with spaces here',
      'ünï-çödé 🚨 עברית',
      `long-${'x'.repeat(507)}`,
      'quote"and\'back\\slash',
      '-dash-first',
    ]
    const reason = 'tab\there "quoted" \\ {"json":true} \u2028 🚨'
    await ok(['open', '--reason', reason, '--actor', 'ops "team" 🚀', '--create', '--yes', '--', ...ids])
    const statuses = JSON.parse((await ok(['status', '--json', '--', ...ids])).stdout) as Array<Record<string, unknown>>
    expect(statuses.map((status) => status.circuitId)).toEqual(ids)
    for (const status of statuses) {
      expect(status).toMatchObject({ state: 'OPEN' })
      expect(status.override).toMatchObject({ reason, actor: 'ops "team" 🚀' })
    }
    for (const id of ids) {
      const history = JSON.parse((await ok(['history', '--json', '--', id])).stdout) as unknown
      expect(JSON.stringify(history)).toContain('tab here')
    }
    const listed = JSON.parse((await ok(['list', '--json'])).stdout) as Array<{ circuitId: string }>
    expect(ids.filter((id) => !listed.some((circuit) => circuit.circuitId === id))).toEqual([])
  })

  it('refuses a blank or over-long id as a usage error', async () => {
    for (const id of [' ', '', 'y'.repeat(513)]) {
      expectOneLineFailure(await fb(['open', '--reason', 'x', '--actor', 'a', '--create', '--', id]), 2)
    }
  })
})

describe('fleet-breaker with a failing store', () => {
  it('an unknown circuit with --json: exit 1, one line, nothing but JSON on stdout', async () => {
    for (const args of [
      ['status', 'nope-api', '--json'],
      ['history', 'nope-api', '--json'],
    ]) {
      expectOneLineFailure(await fb(args), 1)
    }
  })

  it('a store that never answers: one line and exit 1, not a hang', async () => {
    const redisHole = await fb(['status', 'x', '--json'], {
      CIRCUIT_BREAKER_REDIS_URL: `redis://127.0.0.1:${silent.port}`,
    })
    expectOneLineFailure(redisHole, 1)
    const dynamoHole = await runCli(
      cli,
      ['open', 'x', '--reason', 'r', '--actor', 'a'],
      dynamoEnv(`http://127.0.0.1:${silent.port}`, { CIRCUIT_BREAKER_TABLE: 'circuits' }),
    )
    expectOneLineFailure(dynamoHole, 1)
  })

  it('watch rides out its store dying and shows the circuit again once the store is back', async () => {
    await ok(['open', 'phoenix-api', '--reason', 'before', '--actor', 'alice', '--create'])
    const watch = startCli(cli, ['watch', 'phoenix-api', '--interval', '250ms'], env())
    try {
      await eventually(() => watch.stdout().includes('phoenix-api  OPEN'), 60_000, 'the first line')
      await redis.kill()
      await eventually(() => watch.stderr().includes('cannot reach Redis'), 60_000, 'the store problem')
      await redis.restart()
      // The restarted server is empty: the circuit comes back when an operator acts again.
      await ok(['open', 'phoenix-api', '--reason', 'after', '--actor', 'bob', '--create'])
      await eventually(() => watch.stdout().includes('by bob: after'), 60_000, 'the circuit after the outage')
      expect(watch.running()).toBe(true)
    } finally {
      await watch.stop()
    }
    expect(await watch.exited).toBe(0)
  })
})
