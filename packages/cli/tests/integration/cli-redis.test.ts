import { randomUUID } from 'node:crypto'
import { userInfo } from 'node:os'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { testRedisUrl } from '../../../../test-support/redis.js'
import { freePort } from '../../../../test-support/redis-setup.js'
import { type BuiltCli, baseEnv, buildCli, masked, parsed, runCli } from '../support/cli.js'

// Subprocesses against a real server: seconds each on a loaded two-core machine.
jest.setTimeout(120_000)

let cli: BuiltCli
// The shared server is never flushed: every key of this file's circuits starts with its own prefix.
const prefix = `cli-test-${randomUUID()}:`

beforeAll(async () => {
  cli = await buildCli()
})

afterAll(async () => {
  await cli?.remove()
})

function fb(args: readonly string[], extra: Record<string, string> = {}) {
  return runCli(
    cli,
    args,
    baseEnv({
      CIRCUIT_BREAKER_STORE: 'redis',
      CIRCUIT_BREAKER_REDIS_URL: testRedisUrl(),
      CIRCUIT_BREAKER_KEY_PREFIX: prefix,
      ...extra,
    }),
  )
}

describe('fleet-breaker against Redis', () => {
  it('forces, lists, shows, clears, resets and shadows circuits under its key prefix', async () => {
    expect(parsed(await fb(['list', '--json']))).toEqual([])
    const opened = await fb([
      'open',
      'payment-api',
      'email-api',
      '--reason',
      'INC-7',
      '--for',
      '2h',
      '--actor',
      'alice',
      '--create',
      '--yes',
    ])
    expect(opened.code).toBe(0)
    expect(masked(opened.stdout)).toBe(
      'Forced open payment-api: now OPEN, override OPEN for #h ##m by alice: INC-7\n' +
        'Forced open email-api: now OPEN, override OPEN for #h ##m by alice: INC-7\n',
    )
    const listed = parsed(await fb(['list', '--json'])) as Record<string, unknown>[]
    expect(listed.map((circuit) => [circuit.circuitId, circuit.state])).toEqual([
      ['email-api', 'OPEN'],
      ['payment-api', 'OPEN'],
    ])
    // The same prefix given as an option reaches the same circuits.
    const viaOption = await runCli(
      cli,
      ['status', 'payment-api', '--store', 'redis', '--redis-url', testRedisUrl(), '--key-prefix', prefix, '--json'],
      baseEnv(),
    )
    expect((parsed(viaOption) as Record<string, unknown>[])[0]).toMatchObject({
      state: 'OPEN',
      override: { reason: 'INC-7', actor: 'alice' },
    })
    const cleared = parsed(await fb(['clear', 'email-api', '--actor', 'bob', '--json'])) as Record<string, unknown>[]
    expect(cleared[0]).toMatchObject({ state: 'CLOSED', override: null })
    const shadowed = parsed(await fb(['shadow', 'email-api', '--actor', 'bob', '--json'])) as Record<string, unknown>[]
    expect(shadowed[0]).toMatchObject({ shadow: true, shadowOverride: { actor: 'bob', until: null } })
    const reset = parsed(await fb(['reset', 'payment-api', '--actor', 'bob', '--json'])) as Record<string, unknown>[]
    expect(reset[0]).toMatchObject({ state: 'CLOSED', override: null })
    const history = parsed(await fb(['history', 'email-api', '--json'])) as Record<string, unknown>[]
    expect(history.map((entry) => [entry.action, entry.actor])).toEqual([
      ['shadow-on', 'bob'],
      ['clear', 'bob'],
      ['force-open', 'alice'],
    ])
  })

  it('names the operating-system user when there is no --actor and no AWS identity', async () => {
    const result = await fb(['open', 'os-user-api', '--reason', 'drill', '--create', '--json'])
    const [status] = parsed(result) as [Record<string, unknown>]
    expect(status).toMatchObject({ override: { actor: userInfo().username } })
  })

  it('reports a server it cannot reach in one line, exit code 1', async () => {
    const port = await freePort()
    const result = await fb(['status', 'payment-api'], { CIRCUIT_BREAKER_REDIS_URL: `redis://127.0.0.1:${port}` })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(
      new RegExp(
        `^error: cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(.+\\): check --redis-url \\(or CIRCUIT_BREAKER_REDIS_URL\\) and your network\\n$`,
      ),
    )
  })

  it('refuses a URL that is not redis:// with exit code 2, and hides a password in messages', async () => {
    const bad = await fb(['list'], { CIRCUIT_BREAKER_REDIS_URL: 'http://cache:6379' })
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'error: --redis-url (CIRCUIT_BREAKER_REDIS_URL) must be a redis:// or rediss:// URL; received "http://cache:6379"\n',
    })
    const port = await freePort()
    const secret = await fb(['list'], { CIRCUIT_BREAKER_REDIS_URL: `redis://user:s3cret@127.0.0.1:${port}` })
    expect(secret.code).toBe(1)
    expect(secret.stderr).not.toContain('s3cret')
    expect(secret.stderr).toContain(`redis://user:***@127.0.0.1:${port}`)
  })
})
