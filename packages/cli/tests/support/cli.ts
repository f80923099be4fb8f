import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { type AddressInfo, createServer, type Socket } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from '@jest/globals'
import { build, stop } from 'esbuild'

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = resolve(here, '../..')
const rootDir = resolve(packageDir, '../..')

/*
 * The CLI as operators run it: one bundle of its sources (and of the workspace packages it uses,
 * through the root tsconfig's paths), built once per test file and run with `node` as a subprocess.
 * The bundle lives under the package's node_modules so its dependencies resolve as installed.
 */
export interface BuiltCli {
  readonly path: string
  remove(): Promise<void>
}

/** Bundles `src/bin.ts`; takes a second or two. */
export async function buildCli(): Promise<BuiltCli> {
  const dir = join(packageDir, 'node_modules', '.cache', 'fleet-breaker-cli-tests', randomUUID())
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'fleet-breaker.mjs')
  await build({
    entryPoints: [join(packageDir, 'src', 'bin.ts')],
    outfile: path,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    tsconfig: join(rootDir, 'tsconfig.json'),
    external: ['@aws-sdk/*', 'ioredis', 'redis', 'commander', 'cli-table3', 'picocolors', 'log-update'],
    logLevel: 'silent',
  })
  // esbuild's service process outlives the build and would keep the test run from exiting.
  await stop()
  return { path, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** What a run printed and how it ended. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * The environment every run starts from: no colour, no stray `CIRCUIT_BREAKER_*` or AWS settings
 * of the machine running the tests, no instance-metadata lookups.
 */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NO_COLOR: '1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    ...extra,
  }
}

/** A CLI process still running: what it has printed so far, and how to end it. */
export interface RunningCli {
  stdout(): string
  stderr(): string
  /** Whether the process has not ended yet. */
  running(): boolean
  /** Resolves with the exit code once the process has ended and its output is read. */
  readonly exited: Promise<number | null>
  /** Sends `signal` (Ctrl-C by default) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts the CLI with its output piped, as in a log or a CI job; `input` is its whole stdin. */
export function startCli(
  cli: BuiltCli,
  args: readonly string[],
  env: Record<string, string>,
  options: { readonly input?: string } = {},
): RunningCli {
  const child = spawn(process.execPath, [cli.path, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolveExit, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolveExit(code))
  })
  child.stdin.end(options.input ?? '')
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    running: () => child.exitCode === null && child.signalCode === null,
    exited,
    stop(signal = 'SIGINT') {
      child.kill(signal)
      return exited
    },
  }
}

/** Runs the CLI to its end (at most `timeoutMs`, generous for a loaded machine). */
export async function runCli(
  cli: BuiltCli,
  args: readonly string[],
  env: Record<string, string>,
  options: { readonly input?: string; readonly timeoutMs?: number } = {},
): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const running = startCli(cli, args, env, options)
  let timer: ReturnType<typeof setTimeout> | undefined
  const overdue = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      running.stop('SIGKILL').catch(() => {})
      reject(
        new Error(
          `fleet-breaker ${args.join(' ')} did not end within ${timeoutMs} ms:\n${running.stdout()}\n${running.stderr()}`,
        ),
      )
    }, timeoutMs)
  })
  try {
    const code = await Promise.race([running.exited, overdue])
    return { code, stdout: running.stdout(), stderr: running.stderr() }
  } finally {
    clearTimeout(timer)
  }
}

/** The output of a run that must have succeeded, as JSON. */
export function parsed(result: CliResult): unknown {
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
  return JSON.parse(result.stdout)
}

/** A failure as operators see it: one line on stderr, no stack trace, nothing (or JSON) on stdout. */
export function expectOneLineFailure(result: CliResult, code: number): void {
  expect(result.code).toBe(code)
  expect(result.stderr).toMatch(/^error: [^\n]+\n$/)
  expect(result.stderr).not.toMatch(/\n\s+at /)
  if (result.stdout.trim() !== '') expect(() => JSON.parse(result.stdout)).not.toThrow()
}

/** The settings of a run against DynamoDB at `endpoint` (dynalite, a proxy in front of it, a black hole). */
export function dynamoEnv(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return baseEnv({
    AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
    ...extra,
  })
}

/** A server that accepts connections and never answers a byte: a store behind a broken network. */
export interface BlackHole {
  readonly port: number
  stop(): Promise<void>
}

export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen))
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()))
    },
  }
}

/**
 * Human output made stable for snapshots: timestamps and durations keep their width (so table
 * columns stay aligned) but lose their digits.
 */
export function masked(text: string): string {
  return text
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/g, 'YYYY-MM-DDThh:mm:ssZ')
    .replace(/\b\d+(?:ms|d|h|m|s)\b/g, (duration) => duration.replace(/\d/g, '#'))
}

/** Polls `check` until it answers true, for at most `timeoutMs`; no fixed sleeps. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolveWait) => setTimeout(resolveWait, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
