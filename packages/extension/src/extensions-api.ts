import { Agent, request } from 'node:http'

/** The events an external extension can receive from `event/next`. */
export const LifecycleEventType = { INVOKE: 'INVOKE', SHUTDOWN: 'SHUTDOWN' } as const
export type LifecycleEventType = (typeof LifecycleEventType)[keyof typeof LifecycleEventType]

/** An invocation starting, as `event/next` reports it. */
export interface InvokeEvent {
  readonly eventType: typeof LifecycleEventType.INVOKE
  readonly requestId: string
  /** When the invocation times out, in epoch milliseconds. */
  readonly deadlineMs: number
  readonly invokedFunctionArn?: string
}

/** The environment ending: the extension has until `deadlineMs` to finish. */
export interface ShutdownEvent {
  readonly eventType: typeof LifecycleEventType.SHUTDOWN
  /** `spindown`, `timeout` or `failure`. */
  readonly shutdownReason: string
  readonly deadlineMs: number
}

export type LifecycleEvent = InvokeEvent | ShutdownEvent

/** What the Extensions API answers to a failed request. */
export class ExtensionsApiError extends Error {
  readonly status: number | undefined
  constructor(message: string, status?: number, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'ExtensionsApiError'
    this.status = status
  }
}

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
}

const API_VERSION = '2020-01-01'
/** Most bytes read from one Extensions API answer; an event is a few hundred. */
const MAX_REPLY_BYTES = 1_048_576

/**
 * A client of the Lambda Extensions API (`$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/...`).
 *
 * It uses `node:http` without any timeout: `event/next` is a long poll that may legitimately wait
 * for minutes (and across a freeze of the execution environment), which a fetch with its default
 * header timeout would cut short.
 */
export class ExtensionsApiClient {
  readonly #host: string
  readonly #port: number
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 2 })
  #extensionId: string | undefined

  /** @param runtimeApi `host:port`, as in `AWS_LAMBDA_RUNTIME_API`. */
  constructor(runtimeApi: string) {
    const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(runtimeApi.trim())
    if (match === null)
      throw new ExtensionsApiError(`AWS_LAMBDA_RUNTIME_API must be host:port; received "${runtimeApi}"`)
    this.#host = match[1] as string
    this.#port = Number(match[2])
  }

  /** The identifier Lambda gave at registration. */
  get extensionId(): string | undefined {
    return this.#extensionId
  }

  /** Registers for `events` (default INVOKE and SHUTDOWN) under `name`, the extension's file name in `/opt/extensions`. */
  async register(
    name: string,
    events: readonly LifecycleEventType[] = [LifecycleEventType.INVOKE, LifecycleEventType.SHUTDOWN],
  ): Promise<{ extensionId: string; functionName?: string }> {
    const reply = await this.#send('POST', 'register', { 'Lambda-Extension-Name': name }, { events })
    if (reply.status !== 200)
      throw new ExtensionsApiError(`register answered ${reply.status}: ${reply.body}`, reply.status)
    const id = reply.headers['lambda-extension-identifier']
    if (typeof id !== 'string' || id === '')
      throw new ExtensionsApiError('register answered without Lambda-Extension-Identifier')
    this.#extensionId = id
    let functionName: string | undefined
    try {
      const parsed: unknown = JSON.parse(reply.body)
      const value = (parsed as { functionName?: unknown } | null)?.functionName
      if (typeof value === 'string') functionName = value
    } catch {
      // The body is informational only.
    }
    return functionName === undefined ? { extensionId: id } : { extensionId: id, functionName }
  }

  /** Waits for the next lifecycle event (a long poll). */
  async next(): Promise<LifecycleEvent> {
    const reply = await this.#send('GET', 'event/next', this.#identified(), undefined)
    if (reply.status !== 200)
      throw new ExtensionsApiError(`event/next answered ${reply.status}: ${reply.body}`, reply.status)
    return parseEvent(reply.body)
  }

  /** Reports a failed initialisation; Lambda then fails the init phase with `errorType`. */
  async initError(errorType: string, error: Error): Promise<void> {
    await this.#reportError('init/error', errorType, error)
  }

  /** Reports that the extension is about to exit because of an error. */
  async exitError(errorType: string, error: Error): Promise<void> {
    await this.#reportError('exit/error', errorType, error)
  }

  /** Closes idle connections to the API. */
  close(): void {
    this.#agent.destroy()
  }

  async #reportError(path: string, errorType: string, error: Error): Promise<void> {
    const headers = { ...this.#identified(), 'Lambda-Extension-Function-Error-Type': errorType }
    await this.#send('POST', path, headers, { errorMessage: error.message, errorType, stackTrace: [] })
  }

  #identified(): Record<string, string> {
    if (this.#extensionId === undefined) throw new ExtensionsApiError('the extension is not registered')
    return { 'Lambda-Extension-Identifier': this.#extensionId }
  }

  #send(method: string, path: string, headers: Record<string, string>, body: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return new Promise<Reply>((resolve, reject) => {
      const req = request(
        {
          host: this.#host,
          port: this.#port,
          method,
          path: `/${API_VERSION}/extension/${path}`,
          agent: this.#agent,
          headers: {
            ...headers,
            ...(payload === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (chunk: Buffer) => {
            size += chunk.length
            if (size > MAX_REPLY_BYTES) {
              res.destroy(new ExtensionsApiError(`${path} answered more than ${MAX_REPLY_BYTES} bytes`))
              return
            }
            chunks.push(chunk)
          })
          res.on('error', reject)
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          )
        },
      )
      req.on('error', (error) =>
        reject(new ExtensionsApiError(`${method} ${path} failed: ${error.message}`, undefined, error)),
      )
      req.end(payload)
    })
  }
}

function parseEvent(body: string): LifecycleEvent {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch (error) {
    throw new ExtensionsApiError('event/next answered a body that is not JSON', undefined, error)
  }
  const event = (parsed ?? {}) as Record<string, unknown>
  const deadlineMs = Number(event.deadlineMs)
  if (!Number.isFinite(deadlineMs))
    throw new ExtensionsApiError(`event/next answered without a deadline: ${body.slice(0, 200)}`)
  if (event.eventType === LifecycleEventType.INVOKE && typeof event.requestId === 'string') {
    return {
      eventType: LifecycleEventType.INVOKE,
      requestId: event.requestId,
      deadlineMs,
      ...(typeof event.invokedFunctionArn === 'string' ? { invokedFunctionArn: event.invokedFunctionArn } : {}),
    }
  }
  if (event.eventType === LifecycleEventType.SHUTDOWN) {
    return {
      eventType: LifecycleEventType.SHUTDOWN,
      shutdownReason: typeof event.shutdownReason === 'string' ? event.shutdownReason : 'unknown',
      deadlineMs,
    }
  }
  throw new ExtensionsApiError(`event/next answered an unknown event: ${body.slice(0, 200)}`)
}
