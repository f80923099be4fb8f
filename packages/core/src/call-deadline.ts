/** Handed to calls that can never be aborted, so the common case allocates nothing per call. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal

/** Whether `fn` handed back something to wait for; anything else is a value it returned at once. */
function isThenable<T>(outcome: T | PromiseLike<T>): outcome is PromiseLike<T> {
  return typeof (outcome as { then?: unknown } | null | undefined)?.then === 'function'
}

/**
 * The delay, from `now`, for a timer to fire at `deadline` (both `performance.now()` times) and not
 * before: Node.js timers count whole milliseconds, so a fraction is rounded up.
 */
function delayUntil(deadline: number, now: number): number {
  return Math.max(1, Math.ceil(deadline - now))
}

/**
 * A call that has not settled yet: a node of the scheduler's list. It holds the call's own
 * controller, so aborting it at the deadline reaches this call and no other.
 */
class PendingCall {
  previous: PendingCall | undefined = undefined
  next: PendingCall | undefined = undefined
  /** False once the call is out of the list: it settled, or its deadline passed. */
  linked = true

  constructor(
    readonly deadline: number,
    readonly controller: AbortController,
    readonly reject: (error: unknown) => void,
  ) {}
}

/**
 * Gives calls a deadline `timeoutMs` after they start. Each call gets an `AbortController` of its
 * own: a signal shared between calls would be aborted by a neighbour's deadline after this call
 * settled, and a `fetch` that returned in time would have its response body cut off.
 *
 * What calls share is one timer. Every call has the same timeout, so calls reach their deadlines
 * in the order they started: the running calls are a list in that order, and the timer only ever
 * needs to wake for the oldest. Starting and settling a call is then a list insertion and removal,
 * with no `setTimeout` and `clearTimeout` per call (together they cost more than the rest of the
 * hot path). The timer keeps the process alive only while a call is running; once none is, it is
 * left unreferenced rather than cleared, so that the next call need not arm a new one, and when it
 * fires with nothing to do it is not armed again. A function that returns synchronously never
 * touches the timer. A call is aborted once its timeout has passed (as Node.js timers count time,
 * in whole milliseconds), and its signal is never aborted after it has settled.
 */
export class DeadlineScheduler {
  readonly #timeoutMs: number
  readonly #onTimeout: () => Error
  /** The running calls, oldest first, which is also the order of their deadlines. */
  #oldest: PendingCall | undefined
  #newest: PendingCall | undefined
  /** The armed timer, due no later than the oldest call's deadline; undefined when none is armed. */
  #timer: ReturnType<typeof setTimeout> | undefined
  /** The deadline the armed timer was set for. */
  #armedFor = 0
  /** Bound once, so arming the timer allocates no closure. */
  readonly #wake = (): void => this.#expireDue()

  constructor(timeoutMs: number, onTimeout: () => Error) {
    this.#timeoutMs = timeoutMs
    this.#onTimeout = onTimeout
  }

  /**
   * Runs `fn`; rejects with the error `onTimeout` makes (the reason of the call's aborted signal
   * too) if it has not settled by its deadline.
   */
  run<T>(fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
    // Read before `fn` runs: the deadline counts from when the call started.
    const startedAt = performance.now()
    const controller = new AbortController()
    let outcome: T | Promise<T>
    try {
      outcome = fn(controller.signal)
    } catch (error) {
      return Promise.reject(error)
    }
    // A function that returned synchronously has nothing left to time out.
    if (!isThenable(outcome)) return Promise.resolve(outcome)
    const settling = outcome
    return new Promise<T>((resolve, reject) => {
      const call = this.#track(startedAt + this.#timeoutMs, controller, reject)
      // Adopted through `Promise.resolve`, so a foreign thenable whose `then` throws still settles.
      Promise.resolve(settling).then(
        (value) => {
          this.#untrack(call)
          resolve(value)
        },
        (error: unknown) => {
          this.#untrack(call)
          reject(error)
        },
      )
    })
  }

  #track(deadline: number, controller: AbortController, reject: (error: unknown) => void): PendingCall {
    const call = new PendingCall(deadline, controller, reject)
    const newest = this.#newest
    if (newest === undefined) {
      this.#oldest = call
      // An armed timer is due before this deadline (it was armed for an older call's), so it
      // only has to keep the process alive again. Otherwise this call is the only one to wake for.
      if (this.#timer === undefined) this.#arm(deadline, performance.now())
      else this.#timer.ref()
    } else {
      newest.next = call
      call.previous = newest
    }
    this.#newest = call
    return call
  }

  /** Takes a settled call out of the list at once, so its controller can be collected. */
  #untrack(call: PendingCall): void {
    if (!call.linked) return
    this.#unlink(call)
    // Nothing left to wait for: the timer must not keep the process alive on its own.
    if (this.#oldest === undefined) this.#timer?.unref()
  }

  #unlink(call: PendingCall): void {
    const { previous, next } = call
    if (previous === undefined) this.#oldest = next
    else previous.next = next
    if (next === undefined) this.#newest = previous
    else next.previous = previous
    call.previous = undefined
    call.next = undefined
    call.linked = false
  }

  #arm(deadline: number, now: number): void {
    this.#armedFor = deadline
    this.#timer = setTimeout(this.#wake, delayUntil(deadline, now))
  }

  #expireDue(): void {
    this.#timer = undefined
    // The timer has measured out the time to the deadline it was armed for, even where our clock
    // disagrees: it may read a little early, or stand still under a test's fake timers that leave
    // `performance` alone. Trusting the timer means every wake expires at least that call.
    const due = Math.max(performance.now(), this.#armedFor)
    let call = this.#oldest
    while (call !== undefined && call.deadline <= due) {
      this.#unlink(call)
      const error = this.#onTimeout()
      // Abort listeners run synchronously and may start calls here; those are appended to the
      // list and, if it had emptied, arm the timer themselves.
      call.controller.abort(error)
      call.reject(error)
      call = this.#oldest
    }
    if (call !== undefined && this.#timer === undefined) this.#arm(call.deadline, due)
  }
}

/**
 * Runs `fn` with an `AbortSignal` of its own that is aborted when `timeoutMs` passes (with the
 * error `onTimeout` makes) or when the caller's `signal` aborts (with the caller's reason, the same
 * object, so the caller's reason is what reaches `fn` and what the call rejects with). Settles as
 * soon as either happens, without waiting for `fn`, whose late outcome is then ignored. Whichever
 * way the call settles, its timer is cleared and its listener leaves the caller's signal, so a
 * long-lived signal shared by many calls gathers nothing. A `signal` already aborted rejects
 * without calling `fn`.
 */
export function callWithDeadline<T>(
  fn: (signal: AbortSignal) => T | Promise<T>,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  onTimeout: () => Error,
): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  // Read before `fn` runs: the deadline counts from when the call started.
  const startedAt = timeoutMs === undefined ? 0 : performance.now()
  const controller = new AbortController()
  let outcome: T | Promise<T>
  try {
    outcome = fn(controller.signal)
  } catch (error) {
    return Promise.reject(error)
  }
  // Done before any timer or listener exists: nothing to clean up.
  if (!isThenable(outcome)) return Promise.resolve(outcome)
  const settling = outcome
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let settled = false
    /** Runs once, on whichever comes first: the outcome, the deadline or the caller's abort. */
    const finish = (): boolean => {
      if (settled) return false
      settled = true
      if (timer !== undefined) clearTimeout(timer)
      signal.removeEventListener('abort', onCallerAbort)
      return true
    }
    const giveUp = (reason: unknown): void => {
      if (!finish()) return
      controller.abort(reason)
      reject(reason)
    }
    const onCallerAbort = (): void => giveUp(signal.reason)
    // `fn` may have aborted the caller's signal itself while it ran.
    if (signal.aborted) {
      giveUp(signal.reason)
      return
    }
    signal.addEventListener('abort', onCallerAbort)
    // Armed only now that `fn` returned something to wait for, for what is left of its time.
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => giveUp(onTimeout()), delayUntil(startedAt + timeoutMs, performance.now()))
    }
    Promise.resolve(settling).then(
      (value) => {
        if (finish()) resolve(value)
      },
      (error: unknown) => {
        if (finish()) reject(error)
      },
    )
  })
}
