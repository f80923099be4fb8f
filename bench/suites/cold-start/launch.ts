import { spawn } from 'node:child_process'

/** Milliseconds since the child process started, at each step of its first invocation. */
export interface StartTimings {
  /** The runner's first line: Node's own start-up, the same for every handler. */
  readonly startedMs: number
  /** The handler module imported, its module-scope code run (Lambda's init phase). */
  readonly loadedMs: number
  /** The downstream called: the breaker has decided (for the handler without one, at once). */
  readonly decidedMs: number
  /** The handler returned its response. */
  readonly respondedMs: number
}

/** A child that has not answered by then is stuck (a store it cannot reach would time out sooner). */
const CHILD_TIMEOUT_MS = 30_000

function isTimings(value: unknown): value is StartTimings {
  if (typeof value !== 'object' || value === null) return false
  const fields = value as Record<string, unknown>
  return ['startedMs', 'loadedMs', 'decidedMs', 'respondedMs'].every((key) => typeof fields[key] === 'number')
}

/**
 * Runs `node runner handler` in a fresh process with only `env` (so no loader of the parent's,
 * such as tsx's, slows the child) and returns the timings it prints. Anything on the child's
 * stderr fails the run: it would be a breaker warning (the store unreachable, so the call was let
 * through without a read) or an SDK warning, and the figures would not be what they claim.
 */
export function launch(
  runner: string,
  handler: string,
  env: NodeJS.ProcessEnv,
  nodePath: string = process.execPath,
): Promise<StartTimings> {
  return new Promise((resolve, reject) => {
    const child = spawn(nodePath, [runner, handler], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0 || stderr.trim() !== '') {
        reject(new Error(`${handler}: exit ${code ?? signal}; stderr: ${stderr.trim() || '(empty)'}`))
        return
      }
      try {
        const parsed: unknown = JSON.parse(stdout.trim())
        if (!isTimings(parsed)) throw new Error(`unexpected output: ${stdout.trim()}`)
        resolve(parsed)
      } catch (error) {
        reject(error)
      }
    })
  })
}
