/*
 * Which error a call threw, whatever later middlewares make of it.
 *
 * Middy puts a thrown error on `request.error` and then runs the `onError` hooks in reverse order
 * of registration. A hook that runs before the breaker's may replace the error: every major of
 * `@middy/http-error-handler` (5, 6 and 7) swaps an error it will not expose (anything without a
 * `statusCode`, such as a `TypeError`, or with `expose: false`, which it sets on a 5xx that has no
 * `expose`) for a new plain object `{ statusCode: 500, expose: true }` that keeps no `cause`. Read
 * after that, `request.error` turns a bug into a downstream failure. So, from admission on, the
 * middleware watches the `error` property of the request: Middy assigns it when the call throws,
 * and the first value assigned is the error the call threw.
 */

/** An error seen on the request; wrapped so that a thrown `null`, `0` or `''` still counts as seen. */
export interface ThrownError {
  readonly error: unknown
}

/** A watch on `request.error`, from the admission of a call until its outcome is recorded. */
export interface ErrorWatch {
  /** The first error put on the request since the watch began; `undefined` while none was. */
  readonly thrown: ThrownError | undefined
  /**
   * Stops watching and, when no other watch was put on top of this one, gives the request back a
   * plain data property holding the current value. Values set later are never captured.
   */
  stop(): void
}

/** For requests whose `error` property cannot be redefined: `request.error` is all there is. */
const UNWATCHED: ErrorWatch = { thrown: undefined, stop() {} }

function watchable(descriptor: PropertyDescriptor | undefined): boolean {
  if (descriptor === undefined) return true
  if (descriptor.configurable !== true) return false
  // Keep the property's behaviour: a read-only value or a getter without a setter stays as it is.
  return 'value' in descriptor ? descriptor.writable === true : descriptor.set !== undefined
}

/**
 * Watches `request.error` and remembers the first value assigned to it. Reads and writes behave
 * as before: the current value is what every middleware sees, so nothing replaces anyone's error.
 * Watches nest (two breakers on one handler): each passes values on to the one below.
 *
 * @example
 * ```ts
 * const errors = watchError(request)
 * // ... later, in onError, whatever ran first:
 * const error = errors.thrown === undefined ? request.error : errors.thrown.error
 * errors.stop()
 * ```
 */
export function watchError(request: object): ErrorWatch {
  const previous = Object.getOwnPropertyDescriptor(request, 'error')
  if (!watchable(previous) || (previous === undefined && !Object.isExtensible(request))) return UNWATCHED
  const below = previous?.get === undefined ? undefined : previous
  let value: unknown = below === undefined ? previous?.value : undefined
  let thrown: ThrownError | undefined
  let watching = true

  const get = (): unknown => (below?.get === undefined ? value : below.get.call(request))
  const set = (next: unknown): void => {
    if (watching && thrown === undefined && next !== undefined) thrown = { error: next }
    if (below?.set === undefined) value = next
    else below.set.call(request, next)
  }
  const enumerable = previous?.enumerable ?? true
  Object.defineProperty(request, 'error', { configurable: true, enumerable, get, set })

  return {
    get thrown() {
      return thrown
    },
    stop() {
      if (!watching) return
      watching = false
      // Another watch on top passes values through this one, which now only forwards them.
      if (Object.getOwnPropertyDescriptor(request, 'error')?.get !== get) return
      Object.defineProperty(request, 'error', below ?? { configurable: true, enumerable, writable: true, value })
    },
  }
}
