import { spawn } from 'node:child_process'
import { once } from 'node:events'

/** How a process ended and what it printed. */
export interface Finished {
  /** The exit code; null when a signal ended the process. */
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `file` with `args` to its end and collects what it prints. The process sees only `PATH` and
 * the variables in `env`: nothing of this test process's environment leaks into what is tested.
 * With `killAfterMs`, a process still running then is killed (SIGKILL; `code` is null), so a
 * process that should have ended fails its test instead of hanging it.
 */
export async function runToExit(
  file: string,
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; killAfterMs?: number } = {},
): Promise<Finished> {
  const child = spawn(file, [...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8')
  })
  const killer =
    options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
  try {
    // 'close', not 'exit': every byte the process wrote has been read by then.
    const [code] = (await once(child, 'close')) as [number | null]
    return { code, stdout, stderr }
  } finally {
    clearTimeout(killer)
  }
}
