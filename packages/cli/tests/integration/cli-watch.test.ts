import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { Readable, Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type BuiltCli, baseEnv, buildCli, eventually, runCli } from '../support/cli.js'

// Watching takes a few refreshes, each a subprocess reading the store on a loaded machine.
jest.setTimeout(180_000)

let cli: BuiltCli
let dynamo: LocalDynamoDB
const TABLE = 'circuits'

beforeAll(async () => {
  ;[cli, dynamo] = await Promise.all([buildCli(), startDynalite()])
  await dynamo.createTable(TABLE)
})

afterAll(async () => {
  await Promise.all([cli?.remove(), dynamo?.stop()])
})

function env(extra: Record<string, string> = {}) {
  return baseEnv({
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
    CIRCUIT_BREAKER_TABLE: TABLE,
    ...extra,
  })
}

async function fb(args: readonly string[]) {
  const result = await runCli(cli, args, env())
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
  return result
}

/** `fleet-breaker watch` with its output piped, as in a log or a CI job. */
function watchPiped(args: readonly string[]) {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    process.execPath,
    [cli.path, 'watch', ...args],
    { env: env(), stdio: ['pipe', 'pipe', 'pipe'] },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    output: () => stdout,
    errors: () => stderr,
    async stop() {
      child.kill('SIGINT')
      return exited
    },
  }
}

describe('fleet-breaker watch, output not a terminal', () => {
  it('prints a line per circuit, then a line per transition made while watching, and ends 0 on Ctrl-C', async () => {
    await fb(['open', 'ledger-api', '--reason', 'warm-up', '--actor', 'alice', '--create'])
    await fb(['clear', 'ledger-api', '--actor', 'alice'])
    const watch = watchPiped(['ledger-api', 'fresh-api', '--interval', '250ms'])
    try {
      await eventually(() => /fresh-api {2}CLOSED\n/.test(watch.output()), 60_000, 'the first lines')
      expect(watch.output()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}ledger-api {2}CLOSED\n/)
      await fb(['open', 'ledger-api', '--reason', 'INC-9', '--for', '15m', '--actor', 'bob'])
      await eventually(() => watch.output().includes('ledger-api  CLOSED -> OPEN'), 60_000, 'the transition line')
      expect(watch.output()).toMatch(
        /Z {2}ledger-api {2}CLOSED -> OPEN \(override OPEN for 1[45]m \d\ds by bob: INC-9\)\n/,
      )
    } finally {
      expect(await watch.stop()).toBe(0)
    }
    expect(watch.errors()).toBe('')
  })

  it('prints JSON lines with --json', async () => {
    const watch = watchPiped(['json-api', '--interval', '250ms', '--json'])
    try {
      await eventually(() => watch.output().includes('\n'), 60_000, 'the first line')
      await fb(['open', 'json-api', '--reason', 'drill', '--actor', 'alice', '--create'])
      await eventually(() => watch.output().split('\n').length > 2, 60_000, 'the change line')
    } finally {
      await watch.stop()
    }
    const [first, change] = watch
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(first).toMatchObject({ event: 'initial', circuitId: 'json-api', from: null, to: 'CLOSED' })
    expect(change).toMatchObject({
      event: 'change',
      circuitId: 'json-api',
      from: 'CLOSED',
      to: 'OPEN',
      status: { override: { actor: 'alice', reason: 'drill' } },
    })
  })

  it('follows every circuit of the store without ids, a new circuit included', async () => {
    const watch = watchPiped(['--interval', '250ms'])
    try {
      await eventually(() => watch.output().includes('ledger-api'), 60_000, 'the listing')
      await fb(['open', 'brand-new-api', '--reason', 'drill', '--actor', 'alice', '--create'])
      await eventually(() => watch.output().includes('brand-new-api  OPEN'), 60_000, 'the new circuit')
    } finally {
      await watch.stop()
    }
  })
})

const tmuxInstalled = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0

describe('fleet-breaker watch on a terminal (tmux)', () => {
  if (!tmuxInstalled) {
    it.skip('needs tmux (apt-get install tmux): not installed on this machine', () => {})
    return
  }

  // A tmux server of this test's own, on its own socket, so no session of anyone else is touched.
  const socket = `fleet-breaker-cli-${randomUUID()}`
  const tmux = (...args: string[]) => {
    const result = spawnSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`)
    return result.stdout
  }

  afterAll(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' })
  })

  it('redraws a table in place, highlights the circuit that changed, lists the transition, and ends on Ctrl-C', async () => {
    await fb(['open', 'tty-api', '--reason', 'warm-up', '--actor', 'alice', '--create'])
    await fb(['clear', 'tty-api', '--actor', 'alice'])
    const variables = Object.entries(env({ TERM: 'xterm-256color', FORCE_COLOR: '1' }))
      .filter(([name]) => name !== 'NO_COLOR')
      .map(([name, value]) => `${name}='${value.replace(/'/g, `'\\''`)}'`)
      .join(' ')
    // The shell around the CLI survives Ctrl-C (a no-op trap) and prints the CLI's exit status: tmux's
    // own record of it is not reliable on a loaded machine.
    const command = `trap true INT; env -i ${variables} '${process.execPath}' '${cli.path}' watch tty-api other-api --interval 250ms; echo "exited with $?"`
    tmux('new-session', '-d', '-s', 'watch', '-x', '180', '-y', '40', command)
    // Keep the pane after the watch ends, to read how it ended.
    tmux('set-option', '-t', 'watch', 'remain-on-exit', 'on')
    const screen = () => tmux('capture-pane', '-p', '-t', 'watch')
    await eventually(() => /tty-api\s+CLOSED/.test(screen()), 60_000, 'the table')
    expect(screen()).toMatch(/Watching 2 circuit\(s\) in DynamoDB table "circuits"/)
    expect(screen()).toMatch(/CIRCUIT\s+STATE\s+FAILURES\s+RETRY IN\s+PROBES\s+OVERRIDE\s+SHADOW/)
    await fb(['open', 'tty-api', '--reason', 'INC-42', '--for', '20m', '--actor', 'bob'])
    await eventually(() => /tty-api {2}CLOSED -> OPEN/.test(screen()), 60_000, 'the transition')
    const text = screen()
    // Redrawn in place: one header, one table.
    expect(text.match(/Watching/g)).toHaveLength(1)
    expect(text.match(/CIRCUIT/g)).toHaveLength(1)
    expect(text).toMatch(/tty-api\s+OPEN\s+0\s+\d+m \d\ds\s+0\s+OPEN for \d+m \d\ds by bob/)
    expect(text).toMatch(/other-api\s+CLOSED/)
    // The changed row is drawn inverted; the others are not.
    const styled = tmux('capture-pane', '-p', '-e', '-t', 'watch')
    const rowOf = (id: string) => styled.split('\n').find((line) => line.includes(id) && !line.includes('->')) ?? ''
    expect(rowOf('tty-api')).toContain('\u001b[7m')
    expect(rowOf('other-api')).not.toContain('\u001b[7m')
    tmux('send-keys', '-t', 'watch', 'C-c')
    await eventually(() => /exited with \d+/.test(screen()), 60_000, 'the watch to end')
    expect(screen()).toMatch(/exited with 0\n/)
  })

  it('asks on the terminal before resetting several circuits, and resets them on "y"', async () => {
    await fb(['open', 'ask-a-api', 'ask-b-api', '--reason', 'drill', '--actor', 'alice', '--create', '--yes'])
    const variables = Object.entries(env())
      .map(([name, value]) => `${name}='${value.replace(/'/g, `'\\''`)}'`)
      .join(' ')
    const command = `env -i ${variables} '${process.execPath}' '${cli.path}' reset ask-a-api ask-b-api --actor bob; echo "exited with $?"`
    tmux('new-session', '-d', '-s', 'reset', '-x', '180', '-y', '20', command)
    tmux('set-option', '-t', 'reset', 'remain-on-exit', 'on')
    const screen = () => tmux('capture-pane', '-p', '-t', 'reset')
    await eventually(() => screen().includes('[y/N]'), 60_000, 'the question')
    expect(screen()).toContain('Reset 2 circuits (ask-a-api, ask-b-api)?')
    tmux('send-keys', '-t', 'reset', 'y', 'Enter')
    await eventually(() => /exited with \d+/.test(screen()), 60_000, 'the reset to end')
    expect(screen()).toMatch(/exited with 0\n/)
    expect(screen()).toContain('Reset ask-b-api: now CLOSED, no override')
    const statuses = JSON.parse((await fb(['status', 'ask-a-api', 'ask-b-api', '--json'])).stdout) as {
      state: string
      lastAction: { action: string; actor: string }
    }[]
    expect(statuses.map((status) => [status.state, status.lastAction.action, status.lastAction.actor])).toEqual([
      ['CLOSED', 'reset', 'bob'],
      ['CLOSED', 'reset', 'bob'],
    ])
  })
})
