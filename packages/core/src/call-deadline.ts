/** Handed to calls that can never be aborted, so the common case allocates nothing per call. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal

/**
 * Runs `fn` with an `AbortSignal` that is aborted when `timeoutMs` passes (with the error
 * `onTimeout` makes) or when the caller's own `signal` aborts. Settles as soon as either happens,
 * without waiting for `fn`, whose late outcome is then ignored.
 */
export function callWithDeadline<T>(
  fn: (signal: AbortSignal) => T | Promise<T>,
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
  onTimeout: () => Error,
): Promise<T> {
  if (timeoutMs === undefined && signal === undefined) return Promise.resolve().then(() => fn(NEVER_ABORTED))
  signal?.throwIfAborted()
  const controller = new AbortController()
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const abort = (reason: unknown): void => {
      controller.abort(reason)
      reject(reason)
    }
    const onCallerAbort = (): void => abort(signal?.reason)
    const settle = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onCallerAbort)
    }
    if (timeoutMs !== undefined) timer = setTimeout(() => abort(onTimeout()), timeoutMs)
    signal?.addEventListener('abort', onCallerAbort, { once: true })
    Promise.resolve()
      .then(() => fn(controller.signal))
      .then(
        (value) => {
          settle()
          resolve(value)
        },
        (error: unknown) => {
          settle()
          reject(error)
        },
      )
  })
}
