import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { type LocalDynamoDB, startDynalite } from '../../../../test-support/dynalite.js'
import { type BuiltCli, buildCli, dynamoEnv, eventually, runCli, startCli } from '../support/cli.js'

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
  return dynamoEnv(dynamo.endpoint, { CIRCUIT_BREAKER_TABLE: TABLE, ...extra })
}

async function fb(args: readonly string[]) {
  const result = await runCli(cli, args, env())
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
  return result
}

/** `fleet-breaker watch` with its output piped, as in a log or a CI job. */
function watchPiped(args: readonly string[]) {
  return startCli(cli, ['watch', ...args], env())
}

describe('fleet-breaker watch, output not a terminal', () => {
  it('prints a line per circuit, then a line per transition made while watching, and ends 0 on Ctrl-C', async () => {
    await fb(['open', 'ledger-api', '--reason', 'warm-up', '--actor', 'alice', '--create'])
    await fb(['clear', 'ledger-api', '--actor', 'alice'])
    const watch = watchPiped(['ledger-api', 'fresh-api', '--interval', '250ms'])
    try {
      await eventually(() => /fresh-api {2}CLOSED\n/.test(watch.stdout()), 60_000, 'the first lines')
      expect(watch.stdout()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}ledger-api {2}CLOSED\n/)
      await fb(['open', 'ledger-api', '--reason', 'INC-9', '--for', '15m', '--actor', 'bob'])
      await eventually(() => watch.stdout().includes('ledger-api  CLOSED -> OPEN'), 60_000, 'the transition line')
      expect(watch.stdout()).toMatch(
        /Z {2}ledger-api {2}CLOSED -> OPEN \(override OPEN for 1[45]m \d\ds by bob: INC-9\)\n/,
      )
    } finally {
      expect(await watch.stop()).toBe(0)
    }
    expect(watch.stderr()).toBe('')
  })

  it('prints JSON lines with --json', async () => {
    const watch = watchPiped(['json-api', '--interval', '250ms', '--json'])
    try {
      await eventually(() => watch.stdout().includes('\n'), 60_000, 'the first line')
      await fb(['open', 'json-api', '--reason', 'drill', '--actor', 'alice', '--create'])
      await eventually(() => watch.stdout().split('\n').length > 2, 60_000, 'the change line')
    } finally {
      await watch.stop()
    }
    const [first, change] = watch
      .stdout()
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
      await eventually(() => watch.stdout().includes('ledger-api'), 60_000, 'the listing')
      await fb(['open', 'brand-new-api', '--reason', 'drill', '--actor', 'alice', '--create'])
      await eventually(() => watch.stdout().includes('brand-new-api  OPEN'), 60_000, 'the new circuit')
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

  const quoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

  /**
   * Runs the CLI in a new session `rows` lines high, with `variables` as its whole environment. The
   * shell around it prints the CLI's exit status (tmux's own record of it is not reliable on a
   * loaded machine), and the pane stays after it ends, to read how it ended. With `survivesCtrlC`
   * the shell ignores Ctrl-C (a no-op trap), which then ends only the CLI.
   */
  function terminal(
    name: string,
    args: readonly string[],
    variables: Record<string, string>,
    options: { readonly rows: number; readonly survivesCtrlC?: boolean },
  ) {
    const assignments = Object.entries(variables)
      .map(([variable, value]) => `${variable}=${quoted(value)}`)
      .join(' ')
    const cliCommand = [process.execPath, cli.path, ...args].map(quoted).join(' ')
    const trap = options.survivesCtrlC === true ? 'trap true INT; ' : ''
    const command = `${trap}env -i ${assignments} ${cliCommand}; echo "exited with $?"`
    tmux('new-session', '-d', '-s', name, '-x', '180', '-y', String(options.rows), command)
    tmux('set-option', '-t', name, 'remain-on-exit', 'on')
    return {
      /** The pane's text; with `styled`, its escape sequences too. */
      screen: (styled = false) => tmux('capture-pane', '-p', ...(styled ? ['-e'] : []), '-t', name),
      keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys),
    }
  }

  it('redraws a table in place, highlights the circuit that changed, lists the transition, and ends on Ctrl-C', async () => {
    await fb(['open', 'tty-api', '--reason', 'warm-up', '--actor', 'alice', '--create'])
    await fb(['clear', 'tty-api', '--actor', 'alice'])
    const colourTerminal = Object.fromEntries(
      Object.entries(env({ TERM: 'xterm-256color', FORCE_COLOR: '1' })).filter(([name]) => name !== 'NO_COLOR'),
    )
    const { screen, keys } = terminal(
      'watch',
      ['watch', 'tty-api', 'other-api', '--interval', '250ms'],
      colourTerminal,
      {
        rows: 40,
        survivesCtrlC: true,
      },
    )
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
    const styled = screen(true)
    const rowOf = (id: string) => styled.split('\n').find((line) => line.includes(id) && !line.includes('->')) ?? ''
    expect(rowOf('tty-api')).toContain('\u001b[7m')
    expect(rowOf('other-api')).not.toContain('\u001b[7m')
    keys('C-c')
    await eventually(() => /exited with \d+/.test(screen()), 60_000, 'the watch to end')
    expect(screen()).toMatch(/exited with 0\n/)
  })

  it('asks on the terminal before resetting several circuits, and resets them on "y"', async () => {
    await fb(['open', 'ask-a-api', 'ask-b-api', '--reason', 'drill', '--actor', 'alice', '--create', '--yes'])
    const { screen, keys } = terminal('reset', ['reset', 'ask-a-api', 'ask-b-api', '--actor', 'bob'], env(), {
      rows: 20,
    })
    await eventually(() => screen().includes('[y/N]'), 60_000, 'the question')
    expect(screen()).toContain('Reset 2 circuits (ask-a-api, ask-b-api)?')
    keys('y', 'Enter')
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
