/** A check of a URL: healthy when it answers with an expected status within `timeoutMs`. */
export interface UrlHealthCheck {
  readonly url: string
  /** The statuses that mean healthy. Default: any 2xx. */
  readonly expectedStatus?: number | readonly number[]
  /** How long the request may take. Default 5 000. */
  readonly timeoutMs?: number
  /** Default `'GET'`. */
  readonly method?: 'GET' | 'HEAD' | 'POST'
  readonly headers?: Readonly<Record<string, string>>
}

/**
 * A check in code: healthy unless it throws (or rejects) or returns `false`. It receives an
 * `AbortSignal`, aborted when its time is up; a check that ignores it is abandoned then all the same.
 */
export type FunctionHealthCheck = (signal: AbortSignal) => unknown

export type HealthCheck = UrlHealthCheck | FunctionHealthCheck

/**
 * Default time a check may take, in milliseconds.
 *
 * @example
 * ```ts
 * const check = { url: 'https://payments.example.com/health', timeoutMs: DEFAULT_CHECK_TIMEOUT_MS / 2 }
 * ```
 */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000

/**
 * How a check ended: healthy, failed (its own timeout included), or cut short by the invocation's
 * deadline, which says nothing about the downstream.
 */
export type CheckResult =
  | { readonly kind: 'healthy' }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'cut-short' }

/** The time a check may take. */
export function checkTimeoutMs(check: HealthCheck): number {
  return typeof check === 'function' ? DEFAULT_CHECK_TIMEOUT_MS : (check.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS)
}

/**
 * Runs `check` for at most its timeout, and never past `cutShortInMs` (the invocation's deadline
 * less the time needed to record the outcome). A check still running at its own timeout failed;
 * one still running at the deadline was cut short.
 */
export async function runCheck(check: HealthCheck, cutShortInMs: number): Promise<CheckResult> {
  const timeoutMs = checkTimeoutMs(check)
  const controller = new AbortController()
  let ended: (result: CheckResult) => void = () => {}
  const stopped = new Promise<CheckResult>((resolve) => {
    ended = resolve
  })
  const timers = [
    setTimeout(() => {
      controller.abort(new Error(`the check timed out after ${timeoutMs} ms`))
      ended({ kind: 'failed', error: `timed out after ${timeoutMs} ms` })
    }, timeoutMs),
    setTimeout(
      () => {
        controller.abort(new Error('the invocation is about to end'))
        ended({ kind: 'cut-short' })
      },
      Math.max(0, cutShortInMs),
    ),
  ]
  try {
    // A check that ignores its signal is abandoned, not awaited: the handler must still return in time.
    return await Promise.race([stopped, attempt(check, controller.signal)])
  } finally {
    for (const timer of timers) clearTimeout(timer)
  }
}

async function attempt(check: HealthCheck, signal: AbortSignal): Promise<CheckResult> {
  try {
    if (typeof check === 'function') {
      const result = await check(signal)
      return result === false ? { kind: 'failed', error: 'the check returned false' } : { kind: 'healthy' }
    }
    const response = await fetch(check.url, {
      method: check.method ?? 'GET',
      ...(check.headers === undefined ? {} : { headers: { ...check.headers } }),
      redirect: 'manual',
      signal,
    })
    // Only the status matters; the body is released rather than read.
    await response.body?.cancel().catch(() => undefined)
    return isExpected(response.status, check.expectedStatus)
      ? { kind: 'healthy' }
      : { kind: 'failed', error: `unexpected status ${response.status}` }
  } catch (error) {
    return { kind: 'failed', error: error instanceof Error ? error.message : String(error) }
  }
}

function isExpected(status: number, expected: UrlHealthCheck['expectedStatus']): boolean {
  if (expected === undefined) return status >= 200 && status < 300
  return typeof expected === 'number' ? status === expected : expected.includes(status)
}
