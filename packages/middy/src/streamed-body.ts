/*
 * Streamed responses. With Middy's streaming mode (`streamifyResponse: true` on Middy 5 and 6,
 * `executionMode: executionModeStreamifyResponse` on Middy 7), the handler returns a stream, or an
 * HTTP response whose `body` is one, and Middy pipes it into Lambda's response stream only after
 * the `after` hooks have run. What the downstream does while the body flows (a connection reset
 * halfway, a stall until the deadline) comes after the `after` hooks, so the outcome is taken from
 * the body itself: its end, its error, or its being given up.
 *
 * Middy recognises a Node.js `Readable` by its `_readableState` (every major), and a web
 * `ReadableStream` (Middy 6 and 7); this module recognises the same bodies in the same places.
 */
import { ReadableStream, type ReadableStreamReadResult } from 'node:stream/web'

/** How a streamed body finished. */
export type BodyOutcome =
  /** Read to its end. */
  | { readonly kind: 'ended' }
  /** Failed with an error before its end. */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** Given up before its end without an error: destroyed (Node.js) or cancelled (web) by its reader. */
  | { readonly kind: 'abandoned' }

/** A watch on one streamed body. */
export interface BodyWatch {
  /** Whether anything has read from the body yet (Middy starts once the `after` hooks are done). */
  readonly started: boolean
  /** Stops watching: the outcome is not reported afterwards. */
  stop(): void
}

/** A streamed response: what to put back as the response, and the watch on its body. */
export interface StreamedResponse {
  /**
   * The response to hand on: the same object for a Node.js body; for a web `ReadableStream` body,
   * a copy whose stream passes the same chunks through the watch (a web stream has no events).
   */
  readonly response: unknown
  readonly watch: BodyWatch
}

/** The parts of a Node.js `Readable` the watch uses (structural, as Middy's own check is). */
interface NodeReadableLike {
  readonly _readableState: unknown
  readonly readableEnded?: boolean
  readonly readableFlowing?: boolean | null
  readonly readableDidRead?: boolean
  readonly destroyed?: boolean
  readonly errored?: unknown
  once(event: string, listener: (...args: unknown[]) => void): unknown
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown
}

function isNodeReadable(value: unknown): value is NodeReadableLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    '_readableState' in value &&
    typeof Reflect.get(value, 'once') === 'function' &&
    typeof Reflect.get(value, 'removeListener') === 'function'
  )
}

function isWebReadable(value: unknown): value is ReadableStream<unknown> {
  return value instanceof ReadableStream
}

function isStream(value: unknown): boolean {
  return isNodeReadable(value) || isWebReadable(value)
}

/** The body Middy would stream: the response itself, or the `body` of an HTTP response (one with a `statusCode`). */
function bodyOf(response: unknown): { readonly body: unknown; readonly inField: boolean } | undefined {
  if (isStream(response)) return { body: response, inField: false }
  if (typeof response !== 'object' || response === null || !Reflect.get(response, 'statusCode')) return undefined
  const body: unknown = Reflect.get(response, 'body')
  return isStream(body) ? { body, inField: true } : undefined
}

function watchNodeBody(body: NodeReadableLike, report: (outcome: BodyOutcome) => void): BodyWatch {
  let watching = true
  const finish = (outcome: BodyOutcome): void => {
    if (!watching) return
    stop()
    report(outcome)
  }
  const onEnd = (): void => finish({ kind: 'ended' })
  const onError = (error: unknown): void => finish({ kind: 'failed', error })
  const onClose = (): void => {
    if (body.readableEnded === true) onEnd()
    else if (body.errored !== undefined && body.errored !== null) onError(body.errored)
    else finish({ kind: 'abandoned' })
  }
  function stop(): void {
    watching = false
    body.removeListener('end', onEnd)
    body.removeListener('error', onError)
    body.removeListener('close', onClose)
  }
  // None of these listeners starts the flow of data: the body is read only by Middy's pipeline.
  body.once('end', onEnd)
  body.once('error', onError)
  body.once('close', onClose)
  // A body already finished before the watch began reports at once.
  if (body.readableEnded === true || body.destroyed === true) onClose()
  return {
    get started() {
      return body.readableDidRead === true || (body.readableFlowing !== null && body.readableFlowing !== undefined)
    },
    stop,
  }
}

/**
 * A web stream has no events to listen to: the watch reads it and passes every chunk on through a
 * stream of its own, which pulls only when its reader asks (so `started` is exact).
 */
function watchWebBody(
  body: ReadableStream<unknown>,
  report: (outcome: BodyOutcome) => void,
): { readonly stream: ReadableStream<unknown>; readonly watch: BodyWatch } {
  const reader = body.getReader()
  let watching = true
  let started = false
  const finish = (outcome: BodyOutcome): void => {
    if (!watching) return
    watching = false
    report(outcome)
  }
  const stream = new ReadableStream<unknown>(
    {
      async pull(controller) {
        started = true
        let chunk: ReadableStreamReadResult<unknown>
        try {
          chunk = await reader.read()
        } catch (error) {
          controller.error(error)
          finish({ kind: 'failed', error })
          return
        }
        if (chunk.done) {
          controller.close()
          finish({ kind: 'ended' })
        } else {
          controller.enqueue(chunk.value)
        }
      },
      async cancel(reason) {
        finish({ kind: 'abandoned' })
        await reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  return {
    stream,
    watch: {
      get started() {
        return started
      },
      stop() {
        watching = false
      },
    },
  }
}

/**
 * Watches the streamed body of `response`, if it has one, and reports once how it finished.
 * `undefined` when the response is not streamed, or its web stream is already being read by
 * someone else (then nothing can watch it). The report may come at once, for a body that had
 * already finished.
 *
 * @example
 * ```ts
 * const streamed = watchStreamedResponse(request.response, (outcome) => settle(outcome))
 * if (streamed !== undefined) request.response = streamed.response
 * ```
 */
export function watchStreamedResponse(
  response: unknown,
  report: (outcome: BodyOutcome) => void,
): StreamedResponse | undefined {
  const found = bodyOf(response)
  if (found === undefined) return undefined
  const { body, inField } = found
  if (isNodeReadable(body)) return { response, watch: watchNodeBody(body, report) }
  if (!isWebReadable(body) || body.locked) return undefined
  const { stream, watch } = watchWebBody(body, report)
  return { response: inField ? { ...(response as object), body: stream } : stream, watch }
}
