/** Handed to calls that can never be aborted, so the common case allocates nothing per call. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal

/** Runs `fn` with `signal` and settles with its outcome, a synchronous throw included. */
function settleWith<T>(
  fn: (signal: AbortSignal) => T | Promise<T>,
  signal: AbortSignal,
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
): void {
  let outcome: T | Promise<T>
  try {
    outcome = fn(signal)
  } catch (error) {
    reject(error)
    return
  }
  Promise.resolve(outcome).then(resolve, reject)
}

/** The calls that end at one deadline: one abort signal and one timer between them. */
interface Deadline {
  readonly controller: AbortController
  readonly pending: Set<(error: unknown) => void>
  /** Keeps the process alive only while a call waits on it. */
  timer?: ReturnType<typeof setTimeout>
}

/**
 * Gives calls a deadline `timeoutMs` after they start. An `AbortController` and a timer cost a few
 * microseconds each in Node.js, more than the rest of the breaker's hot path together; calls that
 * start within the same millisecond therefore share them, so a steady stream of calls costs one of
 * each per millisecond rather than per call. A call is aborted between `timeoutMs - 1` and
 * `timeoutMs` after it started, and its signal belongs to its deadline: it is aborted at that
 * deadline even if the call finished long before (which no finished call notices).
 */
export class DeadlineScheduler {
  readonly #timeoutMs: number
  readonly #onTimeout: () => Error
  readonly #deadlines = new Map<number, Deadline>()

  constructor(timeoutMs: number, onTimeout: () => Error) {
    this.#timeoutMs = timeoutMs
    this.#onTimeout = onTimeout
  }

  /** Runs `fn`; rejects with the `onTimeout` error if it has not settled by its deadline. */
  run<T>(fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
    const deadline = this.#deadlineFor(Math.floor(performance.now()) + this.#timeoutMs)
    let outcome: T | Promise<T>
    try {
      outcome = fn(deadline.controller.signal)
    } catch (error) {
      return Promise.reject(error)
    }
    // A function that returned synchronously has nothing left to time out.
    if (typeof (outcome as { then?: unknown } | null)?.then !== 'function') return Promise.resolve(outcome)
    const settling = outcome instanceof Promise ? outcome : Promise.resolve(outcome)
    const { pending } = deadline
    if (pending.size === 0) deadline.timer?.ref()
    return new Promise<T>((resolve, reject) => {
      pending.add(reject)
      settling.then(
        (value) => {
          if (pending.delete(reject) && pending.size === 0) deadline.timer?.unref()
          resolve(value)
        },
        (error: unknown) => {
          if (pending.delete(reject) && pending.size === 0) deadline.timer?.unref()
          reject(error)
        },
      )
    })
  }

  #deadlineFor(at: number): Deadline {
    let deadline = this.#deadlines.get(at)
    if (deadline === undefined) {
      const created: Deadline = { controller: new AbortController(), pending: new Set() }
      deadline = created
      this.#deadlines.set(at, created)
      created.timer = setTimeout(() => this.#expire(at, created), Math.max(0, at - performance.now()))
    }
    return deadline
  }

  #expire(at: number, deadline: Deadline): void {
    this.#deadlines.delete(at)
    if (deadline.pending.size === 0) return
    const error = this.#onTimeout()
    deadline.controller.abort(error)
    for (const reject of deadline.pending) reject(error)
    deadline.pending.clear()
  }
}

/**
 * Runs `fn` with an `AbortSignal` that is aborted when `timeoutMs` passes (with the error
 * `onTimeout` makes) or when the caller's own `signal` aborts. Settles as soon as either happens,
 * without waiting for `fn`, whose late outcome is then ignored. A call with its own signal gets a
 * controller and a timer of its own, since its signal is its own.
 */
export function callWithDeadline<T>(
  fn: (signal: AbortSignal) => T | Promise<T>,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  onTimeout: () => Error,
): Promise<T> {
  signal.throwIfAborted()
  const controller = new AbortController()
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const abort = (reason: unknown): void => {
      controller.abort(reason)
      reject(reason)
    }
    const onCallerAbort = (): void => abort(signal.reason)
    const settle = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      signal.removeEventListener('abort', onCallerAbort)
    }
    if (timeoutMs !== undefined) timer = setTimeout(() => abort(onTimeout()), timeoutMs)
    signal.addEventListener('abort', onCallerAbort, { once: true })
    settleWith(
      fn,
      controller.signal,
      (value) => {
        settle()
        resolve(value)
      },
      (error) => {
        settle()
        reject(error)
      },
    )
  })
}
