import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { stop as stopEsbuild } from 'esbuild'
import type { LambdaEmulator } from '../../../../test-support/lambda-runtime-emulator.js'
import { bundleExtension } from '../../scripts/bundle.js'

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** A way to start the extension: a program and its arguments. */
export interface ExtensionCommand {
  readonly label: string
  readonly file: string
  readonly args: readonly string[]
}

/** Bundles the extension into a temporary directory (once per test file): `node <bundle>`. */
export async function buildBundledExtension(): Promise<{ command: ExtensionCommand; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-breaker-extension-'))
  const bundle = join(dir, 'extension.cjs')
  await bundleExtension(bundle)
  // esbuild's service process outlives the build and would keep the test run from exiting.
  await stopEsbuild()
  return {
    command: { label: 'bundled JS', file: process.execPath, args: [bundle] },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  }
}

/**
 * The single executable built by `pnpm --filter @fleet-breaker/extension package` for this machine's
 * architecture, if it has been built (CI builds it before the tests).
 */
export function builtSingleExecutable(): ExtensionCommand | undefined {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64'
  const file = join(packageRoot, 'layers', `sea-${arch}`, 'extensions', 'fleet-breaker')
  return existsSync(file) ? { label: `single executable (${arch})`, file, args: [] } : undefined
}

/** The Node.js layer's launcher (`layers/nodejs/extensions/fleet-breaker`), if the layers have been built. */
export function builtNodeLayer(): ExtensionCommand | undefined {
  const file = join(packageRoot, 'layers', 'nodejs', 'extensions', 'fleet-breaker')
  return existsSync(file) ? { label: 'Node.js layer (launcher)', file, args: [] } : undefined
}

/**
 * The arm64 single executable run under `qemu-aarch64` on an x86_64 machine, if both are there:
 * proof that the blob made by the x64 Node.js serves the arm64 executable.
 */
export function emulatedArm64Executable(): ExtensionCommand | undefined {
  const file = join(packageRoot, 'layers', 'sea-arm64', 'extensions', 'fleet-breaker')
  const sysroot = '/usr/aarch64-linux-gnu'
  const qemu = ['/usr/bin/qemu-aarch64', '/usr/bin/qemu-aarch64-static'].find((path) => existsSync(path))
  if (process.arch !== 'x64' || qemu === undefined || !existsSync(sysroot) || !existsSync(file)) return undefined
  return { label: 'single executable (arm64, under qemu)', file: qemu, args: ['-L', sysroot, file] }
}

export interface ExtensionProcess {
  readonly port: number
  readonly baseUrl: string
  readonly pid: number
  /** Every JSON line the process wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>
  /** Milliseconds from spawn to the `registered` log line, as this process measured them. */
  readonly spawnToRegisteredMs: number
  /** The extension's own figure: from its process start to registered. */
  readonly startToRegisteredMs: number
  kill(): Promise<void>
}

/** Starts the extension against `emulator` and waits until it has registered. */
export async function launchExtension(
  command: ExtensionCommand,
  emulator: LambdaEmulator,
  env: Record<string, string> = {},
): Promise<ExtensionProcess> {
  const spawnedAt = performance.now()
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(command.file, [...command.args], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_LAMBDA_RUNTIME_API: emulator.runtimeApi,
      AWS_LAMBDA_FUNCTION_NAME: 'emulated-function',
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      CIRCUIT_BREAKER_EXTENSION_PORT: '0',
      CIRCUIT_BREAKER_STORE: 'memory',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  const stderr: string[] = []
  let buffered = ''
  let onLine: ((entry: Record<string, unknown>) => void) | undefined
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8')
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      try {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        onLine?.(entry)
      } catch {
        logs.push({ raw: line })
      }
    }
  })
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const registered = await new Promise<Record<string, unknown>>((resolvePromise, reject) => {
    onLine = (entry) => {
      if (entry.message === 'registered') resolvePromise(entry)
    }
    exited.then((code) =>
      reject(
        new Error(`the extension exited (${code}) before registering: ${stderr.join('')} ${JSON.stringify(logs)}`),
      ),
    )
  })
  const spawnToRegisteredMs = performance.now() - spawnedAt
  const port = Number(registered.port)
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    logs,
    exited,
    spawnToRegisteredMs,
    startToRegisteredMs: Number(registered.startToRegisteredMs),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await exited
    },
  }
}

export interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: Record<string, unknown>
}

/** One HTTP request with full control of the headers (Host included), answered as parsed JSON. */
export function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawAnswer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        setHost: options.headers?.Host === undefined,
        headers: {
          ...(options.body === undefined || options.headers?.['Transfer-Encoding'] !== undefined
            ? {}
            : { 'Content-Length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let body: Record<string, unknown>
          try {
            body = JSON.parse(text) as Record<string, unknown>
          } catch {
            body = { raw: text }
          }
          resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Sends raw bytes on a new connection and returns everything the server answers before closing. */
export async function rawExchange(port: number, bytes: string): Promise<string> {
  const { Socket } = await import('node:net')
  const socket = new Socket()
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.connect(port, '127.0.0.1', () => socket.write(bytes))
  await Promise.race([once(socket, 'close'), once(socket, 'end')])
  socket.destroy()
  return Buffer.concat(chunks).toString('utf8')
}

/** The `circuit state changed` lines of a process's log. */
export function transitions(logs: ReadonlyArray<Record<string, unknown>>, to?: string) {
  return logs.filter((entry) => entry.message === 'circuit state changed' && (to === undefined || entry.to === to))
}
