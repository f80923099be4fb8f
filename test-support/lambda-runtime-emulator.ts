import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/*
 * An emulator of the Lambda Runtime API and Extensions API, enough to drive a real extension
 * process (or a small runtime) through its life: register, `event/next` answered with INVOKE and
 * SHUTDOWN events carrying deadlines, `init/error` and `exit/error` recorded. The test plays Lambda:
 * `invoke()` starts an invocation and resolves once every registered extension has asked for its
 * next event (Lambda's signal that an extension is done with the event), `shutdown()` ends the
 * environment.
 *
 * Runtime API (`/2018-06-01/runtime/invocation/...`): `invoke({ payload })` also queues the event
 * for a runtime polling `invocation/next`; its response or error is what `invoke()` resolves with.
 */

export interface RegisteredExtension {
  readonly name: string
  readonly id: string
  /** Events registered for. */
  readonly events: readonly string[]
  /** When it registered (`performance.now()` of this process). */
  readonly registeredAt: number
}

export interface ReportedError {
  readonly extensionId: string | undefined
  readonly errorType: string | undefined
  readonly body: unknown
}

export interface InvokeOptions {
  /** The request id; a fresh UUID by default. */
  readonly requestId?: string
  /** The invocation's timeout (the deadline is now + this). Default 30 000. */
  readonly timeoutMs?: number
  /** A payload for a runtime polling the Runtime API; without one, no runtime is involved. */
  readonly payload?: unknown
}

export interface Invocation {
  readonly requestId: string
  readonly deadlineMs: number
  /** The runtime's response (or error), when the invocation had a payload. */
  readonly response?: { readonly ok: boolean; readonly body: unknown }
}

export interface LambdaEmulator {
  /** `127.0.0.1:<port>`, the value of `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string
  readonly extensions: readonly RegisteredExtension[]
  readonly initErrors: readonly ReportedError[]
  readonly exitErrors: readonly ReportedError[]
  /** Resolves once `count` extensions have registered. */
  whenRegistered(count?: number): Promise<readonly RegisteredExtension[]>
  /** Starts an invocation; resolves once every extension registered for INVOKE has polled again. */
  invoke(options?: InvokeOptions): Promise<Invocation>
  /** Sends SHUTDOWN to every extension; the deadline is now + `budgetMs` (default 2 000). */
  shutdown(options?: { reason?: string; budgetMs?: number }): Promise<{ deadlineMs: number }>
  stop(): Promise<void>
}

interface ExtensionSlot {
  readonly info: RegisteredExtension
  /** An `event/next` request waiting for an event. */
  waiting: ServerResponse | undefined
  /** Events not delivered yet, each with what to call once the extension has polled after it. */
  readonly queue: Array<{ readonly event: unknown; readonly done: () => void }>
  /** Resolved at the extension's next `event/next`: the callers of the events delivered since the last one. */
  polled: Array<() => void>
}

interface RuntimeInvocation {
  readonly requestId: string
  readonly deadlineMs: number
  readonly payload: unknown
  readonly settle: (response: { ok: boolean; body: unknown }) => void
}

const EXTENSIONS = '/2020-01-01/extension/'
const RUNTIME = '/2018-06-01/runtime/'

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
  const text = Buffer.concat(chunks).toString('utf8')
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body ?? {})
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  res.end(payload)
}

/** Starts the emulator on a free loopback port. */
export async function startLambdaEmulator(
  options: {
    functionName?: string
    /** Answer 400 to a registration asking for INVOKE events (a SHUTDOWN-only one is accepted). */
    refuseInvokeRegistration?: boolean
  } = {},
): Promise<LambdaEmulator> {
  const functionName = options.functionName ?? 'emulated-function'
  const slots = new Map<string, ExtensionSlot>()
  const registered: RegisteredExtension[] = []
  const initErrors: ReportedError[] = []
  const exitErrors: ReportedError[] = []
  let registrationWaiters: Array<() => void> = []
  const runtimeQueue: RuntimeInvocation[] = []
  let runtimeWaiting: ServerResponse | undefined
  const runtimePending = new Map<string, RuntimeInvocation>()

  const deliver = (slot: ExtensionSlot) => {
    if (slot.waiting === undefined || slot.queue.length === 0) return
    const next = slot.queue.shift()
    if (next === undefined) return
    const { event, done } = next
    // Done with this event once it asks for the next one (invocations may overlap: an event queued
    // while another is out is not done at the poll that ends the earlier one).
    slot.polled.push(done)
    const res = slot.waiting
    slot.waiting = undefined
    reply(res, 200, event, { 'Lambda-Extension-Event-Identifier': randomUUID() })
  }

  const deliverRuntime = () => {
    if (runtimeWaiting === undefined) return
    const next = runtimeQueue.shift()
    if (next === undefined) return
    const res = runtimeWaiting
    runtimeWaiting = undefined
    runtimePending.set(next.requestId, next)
    reply(res, 200, next.payload, {
      'Lambda-Runtime-Aws-Request-Id': next.requestId,
      'Lambda-Runtime-Deadline-Ms': String(next.deadlineMs),
      'Lambda-Runtime-Invoked-Function-Arn': `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    })
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? ''
    if (url.startsWith(EXTENSIONS)) {
      const path = url.slice(EXTENSIONS.length)
      const id = req.headers['lambda-extension-identifier']
      if (path === 'register' && req.method === 'POST') {
        const name = req.headers['lambda-extension-name']
        const body = (await readBody(req)) as { events?: unknown } | undefined
        if (typeof name !== 'string' || name === '') return reply(res, 400, { errorType: 'InvalidName' })
        const events = Array.isArray(body?.events) ? body.events.map(String) : []
        if (options.refuseInvokeRegistration === true && events.includes('INVOKE')) {
          return reply(res, 400, { errorType: 'InvalidEvent', errorMessage: 'INVOKE is not available here' })
        }
        const info: RegisteredExtension = { name, id: randomUUID(), events, registeredAt: performance.now() }
        slots.set(info.id, { info, waiting: undefined, queue: [], polled: [] })
        registered.push(info)
        for (const wake of registrationWaiters) wake()
        registrationWaiters = []
        return reply(
          res,
          200,
          { functionName, functionVersion: '$LATEST', handler: 'index.handler' },
          { 'Lambda-Extension-Identifier': info.id },
        )
      }
      const slot = typeof id === 'string' ? slots.get(id) : undefined
      if (path === 'event/next' && req.method === 'GET') {
        if (slot === undefined) return reply(res, 403, { errorType: 'Extension.Unknown' })
        slot.waiting = res
        const polled = slot.polled
        slot.polled = []
        for (const wake of polled) wake()
        deliver(slot)
        return
      }
      if ((path === 'init/error' || path === 'exit/error') && req.method === 'POST') {
        const errorType = req.headers['lambda-extension-function-error-type']
        const report: ReportedError = {
          extensionId: typeof id === 'string' ? id : undefined,
          errorType: typeof errorType === 'string' ? errorType : undefined,
          body: await readBody(req),
        }
        ;(path === 'init/error' ? initErrors : exitErrors).push(report)
        return reply(res, 202, { status: 'OK' })
      }
      return reply(res, 404, { errorType: 'NotFound' })
    }
    if (url.startsWith(RUNTIME)) {
      const path = url.slice(RUNTIME.length)
      if (path === 'invocation/next' && req.method === 'GET') {
        runtimeWaiting = res
        deliverRuntime()
        return
      }
      const match = /^invocation\/([^/]+)\/(response|error)$/.exec(path)
      if (match !== null && req.method === 'POST') {
        const invocation = runtimePending.get(match[1] as string)
        const body = await readBody(req)
        if (invocation === undefined) return reply(res, 400, { errorType: 'InvalidRequestID' })
        runtimePending.delete(invocation.requestId)
        invocation.settle({ ok: match[2] === 'response', body })
        return reply(res, 202, { status: 'OK' })
      }
      return reply(res, 404, { errorType: 'NotFound' })
    }
    reply(res, 404, { errorType: 'NotFound' })
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => reply(res, 500, { errorMessage: String(error) }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  /** Queues `event` for every extension registered for its type; resolves when each has polled again. */
  const broadcast = async (event: { eventType: string }) => {
    const targets = [...slots.values()].filter((slot) => slot.info.events.includes(event.eventType))
    const polledAgain = targets.map(
      (slot) =>
        new Promise<void>((resolve) => {
          slot.queue.push({ event, done: resolve })
        }),
    )
    for (const slot of targets) deliver(slot)
    return polledAgain
  }

  return {
    runtimeApi: `127.0.0.1:${port}`,
    extensions: registered,
    initErrors,
    exitErrors,
    async whenRegistered(count = 1) {
      while (registered.length < count) await new Promise<void>((resolve) => registrationWaiters.push(resolve))
      return registered
    },
    async invoke(invokeOptions = {}) {
      const requestId = invokeOptions.requestId ?? randomUUID()
      const deadlineMs = Date.now() + (invokeOptions.timeoutMs ?? 30_000)
      const event = {
        eventType: 'INVOKE',
        requestId,
        deadlineMs,
        invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
        tracing: { type: 'X-Amzn-Trace-Id', value: `Root=1-${randomUUID()}` },
      }
      const polledAgain = await broadcast(event)
      if (invokeOptions.payload === undefined) {
        await Promise.all(polledAgain)
        return { requestId, deadlineMs }
      }
      const response = new Promise<{ ok: boolean; body: unknown }>((settle) => {
        runtimeQueue.push({ requestId, deadlineMs, payload: invokeOptions.payload, settle })
        deliverRuntime()
      })
      const [answer] = await Promise.all([response, Promise.all(polledAgain)])
      return { requestId, deadlineMs, response: answer }
    },
    async shutdown(shutdownOptions = {}) {
      const deadlineMs = Date.now() + (shutdownOptions.budgetMs ?? 2_000)
      await broadcast({ eventType: 'SHUTDOWN', shutdownReason: shutdownOptions.reason ?? 'spindown', deadlineMs } as {
        eventType: string
      })
      return { deadlineMs }
    },
    async stop() {
      for (const slot of slots.values()) slot.waiting?.destroy()
      runtimeWaiting?.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
