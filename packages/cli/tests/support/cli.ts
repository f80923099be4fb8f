import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
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

/** Runs the CLI to its end (at most `timeoutMs`, generous for a loaded machine). */
export function runCli(
  cli: BuiltCli,
  args: readonly string[],
  env: Record<string, string>,
  options: { readonly input?: string; readonly timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli.path, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `fleet-breaker ${args.join(' ')} did not end within ${options.timeoutMs ?? 60_000} ms:\n${stdout}\n${stderr}`,
        ),
      )
    }, options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolvePromise({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? '')
  })
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
