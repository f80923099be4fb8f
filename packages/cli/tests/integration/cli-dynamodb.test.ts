import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CircuitBreaker } from '@fleet-breaker/core'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { freePort } from '../../../../test-support/redis-setup.js'
import { type BuiltCli, buildCli, dynamoEnv, masked, parsed, runCli } from '../support/cli.js'

// Subprocesses against an in-process server: seconds each on a loaded two-core machine.
jest.setTimeout(120_000)

let cli: BuiltCli
let dynamo: LocalDynamoDB
let tables = 0

beforeAll(async () => {
  ;[cli, dynamo] = await Promise.all([buildCli(), startDynalite()])
})

afterAll(async () => {
  await Promise.all([cli?.remove(), dynamo?.stop()])
})

/** A table of the test's own, so listings hold only its circuits. */
async function newTable(): Promise<string> {
  const table = `circuits-${++tables}`
  await dynamo.createTable(table)
  return table
}

function envFor(table: string, extra: Record<string, string> = {}) {
  return dynamoEnv(dynamo.endpoint, { CIRCUIT_BREAKER_TABLE: table, ...extra })
}

function fb(table: string, args: readonly string[], extra: Record<string, string> = {}, input?: string) {
  return runCli(cli, args, envFor(table, extra), input === undefined ? {} : { input })
}

/** A breaker as a function would have one, to give circuits an automatic state. */
function breakerOn(table: string, circuitId: string) {
  const store = new DynamoDBStore({ tableName: table, client: dynamo.client(), callTimeoutMs: 60_000 })
  return new CircuitBreaker({
    circuitId,
    store,
    failureThreshold: 3,
    resetTimeoutMs: 3_600_000,
    cacheTtlMs: 0,
    storeTimeoutMs: 60_000,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  })
}

async function fail(breaker: CircuitBreaker, times: number) {
  for (let i = 0; i < times; i++) {
    await breaker.execute(() => Promise.reject(Object.assign(new Error('down'), { statusCode: 503 }))).catch(() => {})
  }
}

describe('fleet-breaker against DynamoDB (dynalite)', () => {
  it('lists nothing in an empty table, as text and as JSON', async () => {
    const table = await newTable()
    const text = await fb(table, ['list'])
    expect(text).toEqual({
      code: 0,
      stdout: `No circuits in DynamoDB table "${table}" (region us-east-1, endpoint ${dynamo.endpoint}).\n`,
      stderr: '',
    })
    expect(parsed(await fb(table, ['list', '--json']))).toEqual([])
  })

  it('shows circuits as operators read them: list, status and history (human output)', async () => {
    const table = await newTable()
    await fail(breakerOn(table, 'orders-api'), 2)
    await fail(breakerOn(table, 'search-api'), 3)
    const open = await fb(table, [
      'open',
      'payment-api',
      '--reason',
      'INC-123: provider returns 503',
      '--for',
      '30m',
      '--actor',
      'alice',
      '--create',
    ])
    expect(open.code).toBe(0)
    expect(masked(open.stdout)).toMatchSnapshot('open')
    const list = await fb(table, ['list'])
    expect(list.code).toBe(0)
    expect(masked(list.stdout)).toMatchSnapshot('list')
    const status = await fb(table, ['status', 'payment-api', 'search-api'])
    expect(status.code).toBe(0)
    expect(masked(status.stdout)).toMatchSnapshot('status')
    await fb(table, ['clear', 'payment-api', '--actor', 'bob', '--reason', 'provider recovered'])
    const history = await fb(table, ['history', 'payment-api'])
    expect(history.code).toBe(0)
    expect(masked(history.stdout)).toMatchSnapshot('history')
  })

  it('forces a circuit open for a while with who and why, and reports it as JSON', async () => {
    const table = await newTable()
    await fail(breakerOn(table, 'payment-api'), 1)
    const before = Date.now()
    const [opened] = parsed(
      await fb(table, [
        'open',
        'payment-api',
        '--reason',
        'provider outage',
        '--for',
        '30m',
        '--actor',
        'alice',
        '--json',
      ]),
    ) as [Record<string, unknown>]
    expect(opened).toMatchObject({
      circuitId: 'payment-api',
      state: 'OPEN',
      automaticState: 'CLOSED',
      override: { state: 'OPEN', reason: 'provider outage', actor: 'alice' },
    })
    const until = Date.parse((opened.override as { until: string }).until)
    expect(until).toBeGreaterThanOrEqual(before + 30 * 60_000 - 1_000)
    expect(until).toBeLessThanOrEqual(Date.now() + 30 * 60_000 + 1_000)
    // A function's breaker sees the override: calls are rejected with the reason.
    const rejection = await breakerOn(table, 'payment-api')
      .execute(() => 'called')
      .catch((error: unknown) => error)
    expect(rejection).toMatchObject({ name: 'CircuitOpenError', circuitId: 'payment-api' })
    const [status] = parsed(await fb(table, ['status', 'payment-api', '--json'])) as [Record<string, unknown>]
    expect(status).toMatchObject({ state: 'OPEN', failures: 1, override: { actor: 'alice' } })
  })

  it('closes, clears, resets and shadows circuits, each recorded in the history newest first', async () => {
    const table = await newTable()
    await fail(breakerOn(table, 'email-api'), 3)
    const closed = parsed(
      await fb(table, ['close', 'email-api', '--for', '10m', '--reason', 'false alarm', '--actor', 'carol', '--json']),
    ) as [Record<string, unknown>]
    expect(closed[0]).toMatchObject({ state: 'CLOSED', automaticState: 'OPEN', override: { state: 'CLOSED' } })
    const cleared = parsed(await fb(table, ['clear', 'email-api', '--actor', 'carol', '--json'])) as [
      Record<string, unknown>,
    ]
    expect(cleared[0]).toMatchObject({ state: 'OPEN', override: null })
    const shadowed = parsed(
      await fb(table, ['shadow', 'email-api', '--for', '1h', '--reason', 'tuning', '--actor', 'dave', '--json']),
    ) as [Record<string, unknown>]
    expect(shadowed[0]).toMatchObject({ shadow: true, shadowOverride: { actor: 'dave', reason: 'tuning' } })
    const reset = parsed(await fb(table, ['reset', 'email-api', '--actor', 'erin', '--json'])) as [
      Record<string, unknown>,
    ]
    expect(reset[0]).toMatchObject({ state: 'CLOSED', automaticState: 'CLOSED', failures: 0, override: null })
    const unshadowed = parsed(await fb(table, ['shadow', 'email-api', '--off', '--actor', 'dave', '--json'])) as [
      Record<string, unknown>,
    ]
    expect(unshadowed[0]).toMatchObject({ shadow: false, shadowOverride: null })
    const history = parsed(await fb(table, ['history', 'email-api', '--json'])) as Record<string, unknown>[]
    expect(history.map((entry) => [entry.action, entry.actor])).toEqual([
      ['shadow-off', 'dave'],
      ['reset', 'erin'],
      ['shadow-on', 'dave'],
      ['clear', 'carol'],
      ['force-close', 'carol'],
    ])
    expect(history[4]).toMatchObject({ reason: 'false alarm' })
    expect(typeof history[4]?.until).toBe('string')
  })

  it('asks before resetting several circuits, and refuses without --yes when it cannot ask', async () => {
    const table = await newTable()
    await fail(breakerOn(table, 'a-api'), 3)
    await fail(breakerOn(table, 'b-api'), 3)
    const refused = await fb(table, ['reset', 'a-api', 'b-api', '--actor', 'alice'])
    expect(refused).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: resetting 2 circuits needs confirmation: pass --yes (stdin is not a terminal)\n',
    })
    const [stillOpen] = parsed(await fb(table, ['status', 'a-api', '--json'])) as [Record<string, unknown>]
    expect(stillOpen).toMatchObject({ state: 'OPEN' })
    const done = await fb(table, ['reset', 'a-api', 'b-api', '--yes', '--actor', 'alice'])
    expect(done.code).toBe(0)
    expect(done.stdout).toBe('Reset a-api: now CLOSED, no override\nReset b-api: now CLOSED, no override\n')
  })

  it('refuses to force, clear or reset several circuits without --yes when it cannot ask', async () => {
    const table = await newTable()
    for (const args of [
      ['open', 'a-api', 'b-api', '--reason', 'drill', '--create'],
      ['close', 'a-api', 'b-api', '--create'],
      ['clear', 'a-api', 'b-api'],
    ]) {
      const refused = await fb(table, [...args, '--actor', 'alice'])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(
        /^error: (forcing open|forcing closed|clearing) 2 circuits needs confirmation: pass --yes/,
      )
    }
    expect(parsed(await fb(table, ['list', '--json']))).toEqual([])
    const forced = await fb(table, [
      'open',
      'a-api',
      'b-api',
      '--reason',
      'drill',
      '--create',
      '--yes',
      '--actor',
      'alice',
    ])
    expect(forced.code).toBe(0)
    const single = await fb(table, ['clear', 'a-api', '--actor', 'alice'])
    expect(single.code).toBe(0)
  })

  it('names the actor by the AWS caller identity when no --actor is given', async () => {
    const table = await newTable()
    const sts = await fakeSts('arn:aws:sts::123456789012:assumed-role/Oncall/alice')
    try {
      const [opened] = parsed(
        await fb(table, ['open', 'payment-api', '--reason', 'drill', '--create', '--json'], {
          AWS_ENDPOINT_URL_STS: sts.url,
        }),
      ) as [Record<string, unknown>]
      expect(opened).toMatchObject({ override: { actor: 'arn:aws:sts::123456789012:assumed-role/Oncall/alice' } })
      expect(sts.calls()).toBe(1)
    } finally {
      await sts.stop()
    }
  })

  it('honours AWS_ENDPOINT_URL and --region as the AWS CLI does', async () => {
    const table = await newTable()
    const env = envFor(table, { AWS_ENDPOINT_URL: dynamo.endpoint })
    delete (env as Record<string, string | undefined>).AWS_ENDPOINT_URL_DYNAMODB
    delete (env as Record<string, string | undefined>).AWS_REGION
    const listed = await runCli(cli, ['list', '--region', 'eu-west-1', '--json'], env)
    expect(parsed(listed)).toEqual([])
    const noRegion = await runCli(cli, ['list'], env)
    expect(noRegion).toEqual({ code: 2, stdout: '', stderr: 'error: no AWS region: pass --region or set AWS_REGION\n' })
  })

  describe('bad input: one line naming what to fix, and the documented exit code', () => {
    let table: string
    beforeAll(async () => {
      table = await newTable()
      await fail(breakerOn(table, 'known-api'), 1)
    })

    const cases: readonly {
      name: string
      args: string[]
      env?: Record<string, string>
      code: number
      stderr: string | RegExp
    }[] = [
      {
        name: 'a bad duration',
        args: ['open', 'known-api', '--reason', 'x', '--for', '5x'],
        code: 2,
        stderr: 'error: --for must be a duration such as 30m, 1h30m, 90s or 2d; received "5x"\n',
      },
      {
        name: 'open without a reason',
        args: ['open', 'known-api'],
        code: 2,
        stderr: /^error: required option '--reason <text>' not specified \(see fleet-breaker --help\)\n$/,
      },
      {
        name: 'a blank actor',
        args: ['clear', 'known-api', '--actor', ' '],
        code: 2,
        stderr: 'error: --actor must name who makes the change; received ""\n',
      },
      {
        name: 'an unknown command',
        args: ['opne', 'known-api'],
        code: 2,
        stderr: /^error: unknown command 'opne'/,
      },
      {
        name: 'an unknown circuit',
        args: ['status', 'paymnet-api'],
        code: 1,
        stderr:
          /^error: unknown circuit "paymnet-api" in DynamoDB table "circuits-\d+" .*: check the id \(fleet-breaker list shows the circuits in the store\)\n$/,
      },
      {
        name: 'forcing an unknown circuit without --create',
        args: ['open', 'paymnet-api', '--reason', 'x', '--actor', 'alice'],
        code: 1,
        stderr:
          /^error: unknown circuit "paymnet-api" .*or pass --create for a circuit the store holds nothing for yet\n$/,
      },
      {
        name: 'a missing table',
        args: ['list', '--table', 'no-such-table'],
        code: 1,
        stderr:
          /^error: DynamoDB table "no-such-table" \(region us-east-1, endpoint http:\/\/127\.0\.0\.1:\d+\) does not exist: check --table \(or CIRCUIT_BREAKER_TABLE\) and --region\n$/,
      },
      {
        name: 'no table at all',
        args: ['list'],
        env: { CIRCUIT_BREAKER_TABLE: '' },
        code: 2,
        stderr: 'error: no DynamoDB table: pass --table or set CIRCUIT_BREAKER_TABLE\n',
      },
      {
        name: 'the memory store',
        args: ['list', '--store', 'memory'],
        code: 2,
        stderr: 'error: --store memory keeps circuits inside one process; the CLI needs --store dynamodb or redis\n',
      },
      {
        name: 'a --timeout without a unit',
        args: ['list', '--timeout', '1500'],
        code: 2,
        stderr: 'error: --timeout must be a duration from 1ms to 24h, such as 30s, 2m or 1500ms; received "1500"\n',
      },
      {
        name: 'a --timeout past a day',
        args: ['--timeout', '2d', 'status', 'known-api'],
        code: 2,
        stderr: 'error: --timeout must be a duration from 1ms to 24h, such as 30s, 2m or 1500ms; received "2d"\n',
      },
      {
        name: 'an interval too short',
        args: ['watch', 'known-api', '--interval', '10ms'],
        code: 2,
        stderr: 'error: --interval must be at least 250ms; received "10ms"\n',
      },
    ]
    it.each(cases)('$name', async ({ args, env, code, stderr }) => {
      const result = await fb(table, args, env)
      expect(result.code).toBe(code)
      expect(result.stdout).toBe('')
      if (typeof stderr === 'string') expect(result.stderr).toBe(stderr)
      else expect(result.stderr).toMatch(stderr)
    })

    it('an unreachable store', async () => {
      const closedPort = await freePort()
      const result = await fb(table, ['status', 'known-api'], {
        AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${closedPort}`,
      })
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(
        new RegExp(
          `^error: cannot reach DynamoDB table "${table}" \\(region us-east-1, endpoint http://127\\.0\\.0\\.1:${closedPort}\\) \\(ECONNREFUSED\\): check --region, AWS_ENDPOINT_URL_DYNAMODB and your network\\n$`,
        ),
      )
    })
  })
})

/** A stand-in for STS answering GetCallerIdentity, as the AWS SDK asks it (the query protocol). */
async function fakeSts(arn: string): Promise<{ url: string; calls(): number; stop(): Promise<void> }> {
  let calls = 0
  const server: Server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString()
    })
    request.on('end', () => {
      if (!body.includes('Action=GetCallerIdentity')) {
        response.writeHead(400).end()
        return
      }
      calls++
      response.writeHead(200, { 'content-type': 'text/xml' })
      response.end(
        `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROAEXAMPLE:alice</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
