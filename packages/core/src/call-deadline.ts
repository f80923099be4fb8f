/** The built-in `then`, as the engine made it: chained with it, a promise's own `then` is not heeded. */
export const promiseThen = Promise.prototype.then

/**
 * Handed to calls that can never be aborted, so the common case allocates nothing per call. It
 * keeps no abort listener: none would ever run, and a function that adds one on every call (as
 * `fetch` does, or a wrapper that never removes its own) would otherwise grow this one shared
 * signal without bound, and have Node.js warn of a leak.
 */
export const NEVER_ABORTED: AbortSignal = neverAbortedSignal()

function neverAbortedSignal(): AbortSignal {
  const signal = new AbortController().signal
  const addEventListener = signal.addEventListener
  Object.defineProperty(signal, 'addEventListener', {
    value: function addListenerUnlessAbort(this: AbortSignal, ...args: Parameters<AbortSignal['addEventListener']>) {
      if (args[0] !== 'abort') addEventListener.apply(this, args)
    },
  })
  // Node.js's own `onabort` registers a listener (and expects it kept when replaced): this one
  // holds its handler without registering anything, as no abort will ever call it, and only
  // weakly, so that handlers chained onto the one before (on a signal every call shares) do not
  // pile up.
  let onabort: WeakRef<object> | undefined
  Object.defineProperty(signal, 'onabort', {
    get: () => onabort?.deref() ?? null,
    set: (handler: unknown) => {
      const held = typeof handler === 'function' || (typeof handler === 'object' && handler !== null)
      onabort = held ? new WeakRef(handler) : undefined
    },
  })
  return signal
}

/**
 * Whether `fn` handed back something to wait for, given what `Promise.resolve` made of it: a native
 * promise (whatever its own `then` holds) or a thenable. A `then` getter that throws has already
 * rejected `adopted` with its error, which is then waited for like any other outcome.
 */
function isPending(outcome: unknown, adopted: Promise<unknown>): boolean {
  if (adopted === outcome) return true
  try {
    return typeof (outcome as { then?: unknown } | null | undefined)?.then === 'function'
  } catch {
    return true
  }
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

  resolve: (value: unknown) => void = ignore
  reject: (error: unknown) => void = ignore

  constructor(
    readonly deadline: number,
    readonly controller: AbortController,
    readonly onTimeout: () => Error,
    readonly onValue: OnValue | undefined,
    readonly onError: OnError | undefined,
    /** Handed to the handlers with the outcome (see {@link DeadlineScheduler.run}). */
    readonly context: unknown,
  ) {}

  /** The promise the call's caller waits on; settled through {@link succeed} or {@link fail}. */
  settled(): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  /** Settles the call with its value, or what `onValue` makes of it. */
  succeed(value: unknown): void {
    settleThrough(this.onValue, value, this.resolve, this.resolve, this.reject, this.context)
  }

  /** Settles the call with its error (its own, or its deadline's), or what `onError` makes of it. */
  fail(error: unknown): void {
    settleThrough(this.onError, error, this.reject, this.resolve, this.reject, this.context)
  }
}

/**
 * Settles a promise with `outcome` as it is (through `passOn`: its `resolve` for a value, its
 * `reject` for an error) when there is no `handler`, else with what `handler` makes of it (given
 * the call's `context`), or what it throws.
 */
function settleThrough(
  handler: OnValue | OnError | undefined,
  outcome: unknown,
  passOn: (outcome: unknown) => void,
  resolve: (value: unknown) => void,
  reject: (error: unknown) => void,
  context?: unknown,
): void {
  if (handler === undefined) {
    passOn(outcome)
    return
  }
  try {
    resolve(handler(outcome, context))
  } catch (thrown) {
    reject(thrown)
  }
}

function ignore(): void {}

/** A call whose function threw at once: its error, or what `onError` makes of it, a tick later. */
function thrownAtOnce(error: unknown, onError: OnError | undefined, context?: unknown): Promise<unknown> {
  return onError === undefined ? Promise.reject(error) : Promise.resolve().then(() => onError(error, context))
}

/** Chains `onValue` and `onError` on a settled outcome, each given `context` when there is one. */
function chainSettled(
  adopted: Promise<unknown>,
  onValue: OnValue | undefined,
  onError: OnError | undefined,
  context: unknown,
): Promise<unknown> {
  if (context === undefined) return promiseThen.call(adopted, onValue, onError)
  return promiseThen.call(
    adopted,
    onValue && ((value: unknown) => onValue(value, context)),
    onError && ((error: unknown) => onError(error, context)),
  )
}

/**
 * Calls `fn` with no deadline and settles with what `onValue` or `onError` makes of its outcome,
 * on the same ticks as a call under a deadline: a value returned at once, a promise already
 * settled and a synchronous throw all a tick later, so calls that settle together are handed on
 * in the order they started, whichever way they are made. The outcome is adopted and chained as
 * {@link DeadlineScheduler.run} does.
 */
export function settleCall(fn: (signal: AbortSignal) => unknown, onValue: OnValue, onError: OnError): Promise<unknown> {
  let adopted: Promise<unknown>
  try {
    adopted = Promise.resolve(fn(NEVER_ABORTED))
  } catch (error) {
    return thrownAtOnce(error, onError)
  }
  try {
    return promiseThen.call(adopted, onValue, onError)
  } catch (error) {
    // Chaining read the promise's `constructor` (a getter of its own may throw).
    return thrownAtOnce(error, onError)
  }
}

/**
 * What a caller does with a call's value and error, applied by the scheduler as the call settles:
 * the same as chaining `.then(onValue, onError)` on the call, without a second promise per call.
 * Passed as two functions rather than one object, so the call reads nothing of the caller's until
 * it settles, and then only the handler that applies. The scheduler hands each the `context` the
 * call was run with, so a caller can keep one pair of handlers for all its calls rather than make
 * a pair that remembers each call.
 */
export type OnValue = (value: unknown, context?: unknown) => unknown
export type OnError = (error: unknown, context?: unknown) => unknown

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
  /** The `setTimeout` the armed timer came from: a test may swap the global one for a fake clock's. */
  #armedWith: typeof setTimeout | undefined
  /** Bound once, so arming the timer allocates no closure. */
  readonly #wake = (): void => this.#expireDue()

  constructor(timeoutMs: number, onTimeout: () => Error) {
    this.#timeoutMs = timeoutMs
    this.#onTimeout = onTimeout
  }

  /**
   * Runs `fn`; rejects with the error `onTimeout` makes (this call's, else the scheduler's; the
   * reason of the call's aborted signal too) if it has not settled by its deadline.
   */
  run<T>(fn: (signal: AbortSignal) => T | Promise<T>, onTimeout?: () => Error): Promise<T>
  /**
   * The same, settling with what the handlers make of the outcome (as `.then(onValue, onError)`
   * would), each given `context` beside it.
   */
  run(
    fn: (signal: AbortSignal) => unknown,
    onTimeout: () => Error,
    onValue: OnValue | undefined,
    onError: OnError | undefined,
    context?: unknown,
  ): Promise<unknown>
  run(
    fn: (signal: AbortSignal) => unknown,
    onTimeout: () => Error = this.#onTimeout,
    onValue?: OnValue,
    onError?: OnError,
    context?: unknown,
  ): Promise<unknown> {
    // Read before `fn` runs: the deadline counts from when the call started.
    const startedAt = performance.now()
    const controller = new AbortController()
    let thenable: boolean
    let adopted: Promise<unknown>
    try {
      const outcome = fn(controller.signal)
      // Adopted through `Promise.resolve`, so a foreign thenable whose `then` throws still settles,
      // and chained with the built-in `then`, so a native promise's own `then` (one that is not a
      // function, throws, or calls a handler twice) can neither keep the outcome from the call nor
      // record it twice.
      adopted = Promise.resolve(outcome)
      thenable = isPending(outcome, adopted)
    } catch (error) {
      return thrownAtOnce(error, onError, context)
    }
    // A function that returned synchronously has nothing left to time out.
    if (!thenable) return chainSettled(adopted, onValue, onError, context)
    const call = new PendingCall(startedAt + this.#timeoutMs, controller, onTimeout, onValue, onError, context)
    const settled = call.settled()
    this.#track(call)
    this.#follow(call, adopted)
    return settled
  }

  /** Settles `call` with `outcome`'s outcome, unless its deadline came first. (Kept apart so the closures capture little.) */
  #follow(call: PendingCall, outcome: Promise<unknown>): void {
    // An outcome that comes after the deadline is dropped: the call already failed with its
    // timeout, and a late value handed to `onValue` would be recorded as a success that clears
    // the very failure the timeout counted.
    try {
      promiseThen.call(
        outcome,
        (value) => {
          if (this.#untrack(call)) call.succeed(value)
        },
        (error: unknown) => {
          if (this.#untrack(call)) call.fail(error)
        },
      )
    } catch (error) {
      // Chaining read the promise's `constructor` (a getter of its own may throw): the call ends
      // with that error now rather than waiting out its deadline.
      if (this.#untrack(call)) call.fail(error)
    }
  }

  #track(call: PendingCall): PendingCall {
    // A timer armed on a clock since removed (fake timers) may never fire: it is dropped, and one
    // is armed on the clock calls now use for the oldest call waiting.
    const stale = this.#timer !== undefined && this.#armedWith !== setTimeout
    if (stale) this.#disarm()
    const newest = this.#newest
    if (newest === undefined) {
      this.#oldest = call
      // An armed timer is due before this deadline (it was armed for an older call's), so it
      // only has to keep the process alive again. Otherwise this call is the only one to wake for.
      if (this.#timer === undefined) this.#arm(call.deadline, performance.now())
      else this.#timer.ref()
    } else {
      newest.next = call
      call.previous = newest
      if (stale) this.#arm((this.#oldest ?? call).deadline, performance.now())
    }
    this.#newest = call
    return call
  }

  /**
   * Takes a settled call out of the list at once, so its controller can be collected. False when
   * it was already out: its deadline passed first.
   */
  #untrack(call: PendingCall): boolean {
    if (!call.linked) return false
    this.#unlink(call)
    // Nothing left to wait for: the timer must not keep the process alive on its own.
    if (this.#oldest === undefined) this.#timer?.unref()
    return true
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
    this.#armedWith = setTimeout
    this.#timer = setTimeout(this.#wake, delayUntil(deadline, now))
  }

  /** Drops a timer armed on another clock (fake timers installed or removed since): it may never fire. */
  #disarm(): void {
    try {
      clearTimeout(this.#timer)
    } catch {
      // A fake clock's handle that the real clearTimeout does not know: nothing to clear then.
    }
    this.#timer = undefined
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
      const error = call.onTimeout()
      // Abort listeners run synchronously and may start calls here; those are appended to the
      // list and, if it had emptied, arm the timer themselves.
      call.controller.abort(error)
      call.fail(error)
      call = this.#oldest
    }
    if (call !== undefined && this.#timer === undefined) this.#arm(call.deadline, due)
  }
}

/** One scheduler per timeout length, shared by every breaker of the process with that `callTimeoutMs`. */
const sharedSchedulers = new Map<number, DeadlineScheduler>()

/**
 * The process's scheduler for calls of `timeoutMs`. Breakers with the same call timeout share it,
 * so calls spread over many circuits still share one timer and one list (each call brings its own
 * controller and its own timeout error), instead of each circuit arming a timer of its own.
 */
export function sharedDeadlineScheduler(timeoutMs: number): DeadlineScheduler {
  let scheduler = sharedSchedulers.get(timeoutMs)
  if (scheduler === undefined) {
    scheduler = new DeadlineScheduler(timeoutMs, () => new Error(`call timed out after ${timeoutMs} ms`))
    sharedSchedulers.set(timeoutMs, scheduler)
  }
  return scheduler
}

/**
 * Runs `fn` with an `AbortSignal` of its own that is aborted when `timeoutMs` passes (with the
 * error `onTimeout` makes) or when the caller's `signal` aborts (with the caller's reason, the same
 * object, so the caller's reason is what reaches `fn` and what the call rejects with). Settles as
 * soon as either happens, without waiting for `fn`, whose late outcome is then ignored. Whichever
 * way the call settles, its timer is cleared and its listener leaves the caller's signal, so a
 * long-lived signal shared by many calls gathers nothing. A `signal` already aborted rejects
 * without calling `fn`. With `onValue` and `onError`, settles with what they make of the outcome,
 * applied on the tick the outcome comes (as {@link DeadlineScheduler.run} applies them).
 */
export function callWithDeadline<T>(
  fn: (signal: AbortSignal) => T | Promise<T>,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  onTimeout: () => Error,
): Promise<T>
export function callWithDeadline(
  fn: (signal: AbortSignal) => unknown,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  onTimeout: () => Error,
  onValue: OnValue | undefined,
  onError: OnError | undefined,
): Promise<unknown>
export function callWithDeadline(
  fn: (signal: AbortSignal) => unknown,
  timeoutMs: number | undefined,
  signal: AbortSignal,
  onTimeout: () => Error,
  onValue?: OnValue,
  onError?: OnError,
): Promise<unknown> {
  if (signal.aborted) return thrownAtOnce(signal.reason, onError)
  // Read before `fn` runs: the deadline counts from when the call started.
  const startedAt = timeoutMs === undefined ? 0 : performance.now()
  const controller = new AbortController()
  let thenable: boolean
  let adopted: Promise<unknown>
  try {
    const outcome = fn(controller.signal)
    // Adopted and chained as the scheduler does (see DeadlineScheduler.run).
    adopted = Promise.resolve(outcome)
    thenable = isPending(outcome, adopted)
  } catch (error) {
    return thrownAtOnce(error, onError)
  }
  // Done before any timer or listener exists: nothing to clean up.
  if (!thenable) return promiseThen.call(adopted, onValue, onError)
  return new Promise<unknown>((resolve, reject) => {
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
    const fail = (error: unknown): void => settleThrough(onError, error, reject, resolve, reject)
    const giveUp = (reason: unknown): void => {
      if (!finish()) return
      controller.abort(reason)
      fail(reason)
    }
    const onCallerAbort = (): void => giveUp(signal.reason)
    // `fn` may have aborted the caller's signal itself while it ran. Its outcome is then not
    // waited for, but a rejection of it must not go unhandled.
    if (signal.aborted) {
      giveUp(signal.reason)
      promiseThen.call(adopted, undefined, ignore)
      return
    }
    signal.addEventListener('abort', onCallerAbort)
    // Armed only now that `fn` returned something to wait for, for what is left of its time.
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => giveUp(onTimeout()), delayUntil(startedAt + timeoutMs, performance.now()))
    }
    try {
      promiseThen.call(
        adopted,
        (value) => {
          if (finish()) settleThrough(onValue, value, resolve, resolve, reject)
        },
        (error: unknown) => {
          if (finish()) fail(error)
        },
      )
    } catch (error) {
      // Chaining read the promise's `constructor` (a getter of its own may throw).
      if (finish()) fail(error)
    }
  })
}
