import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { type AddressInfo, createServer, type Server, Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { httpFramer, type MessageFramer, respFramer, type WireMessage, wireMessage } from './message-framing.js'

/*
 * A TCP proxy for fault-injection tests of the stores: it stands between a client (the AWS SDK,
 * ioredis, node-redis) and a real server (dynalite, redis-server) and can, at any moment, let a
 * request reach the server and then lose or falsify the answer. Those are the faults a store must
 * survive without last-writer-wins bugs: a write that landed although the caller saw an error, a
 * retry that applies a write twice, and answers that arrive in a different order than the requests
 * went out.
 *
 * Every connection the proxy accepts gets a connection of its own to the server. Requests are
 * forwarded as they arrive (never held back: the server must see them); replies are cut into whole
 * messages and each one is matched against the faults in force when it arrives.
 */

/**
 * How the proxy cuts streams into messages.
 * - `http`: HTTP/1.1 with keep-alive (Content-Length or chunked bodies); exact.
 * - `resp`: Redis protocol; each top-level value is one message, and replies are paired with
 *   requests first-in first-out. That pairing is exact for ordinary commands and pipelines, and
 *   wrong for pub/sub, MONITOR and `CLIENT REPLY OFF|SKIP`, where replies and commands are not one
 *   to one (the reply counts stay right; `ReplyContext.request` does not).
 * - `chunk`: no parsing. A reply is everything the server sends between two client writes; a
 *   request is everything the client writes between two replies. Pipelined commands count as one
 *   request and their replies as one reply, and a reply TCP splits in two stays one reply only
 *   because the client wrote nothing in between. Use it for protocols the proxy does not know.
 */
export type WireProtocol = 'http' | 'resp' | 'chunk'

export interface FaultProxyOptions {
  /** The real server. */
  readonly target: { readonly host: string; readonly port: number }
  readonly protocol: WireProtocol
}

/** What a fault's `match` sees of a reply: the request it answers, and the reply itself. */
export interface ReplyContext {
  /** The proxy's number for the client connection, from 1 in order of acceptance. */
  readonly connectionId: number
  /** The request this reply answers, when pairing is possible (see {@link WireProtocol}). */
  readonly request: WireMessage | undefined
  readonly reply: WireMessage
}

export interface FaultOptions {
  /** How many replies the fault takes. Without it the fault takes every matching reply until cancelled. */
  readonly times?: number
  /** Which replies the fault takes; all by default. */
  readonly match?: (context: ReplyContext) => boolean
}

/** One fault in force; faults take replies in the order they were added. */
export interface FaultHandle {
  /** How many replies (for a black hole: connections) the fault has taken so far. */
  readonly applied: number
  /** False once the fault has taken `times` replies or was cancelled. */
  readonly active: boolean
  /** Resolves once the fault has been applied `times` times in all (1 by default); rejects if the proxy stops first. */
  whenApplied(times?: number): Promise<void>
  /** Stops the fault for replies that arrive from now on. */
  cancel(): void
}

/** Replies held back by {@link FaultProxy.holdReplies}, to be released in an order of the test's choosing. */
export interface ReplyHold {
  /** Replies held and not yet released. */
  pending(): number
  /** Resolves once at least `count` replies are held and not released. */
  untilPending(count: number): Promise<void>
  /** Every reply this hold has caught, by index (0 = the first to arrive), with its state. */
  replies(): readonly HeldReplyInfo[]
  /**
   * Delivers the held replies with these indexes, in this order, each written to its client before
   * the next one is released; `gapMs` (20 by default) passes between two of them so the client has
   * read the first before the second arrives. Without `order`, every pending reply in arrival order.
   * Replies that arrive later are still held. On a busy machine the gap is a likelihood, not a
   * guarantee: to force "B's answer is seen first", release B, await B's result in the test, then
   * release A.
   *
   * Rejects when a reply is queued behind another held reply of the same connection (one TCP
   * connection delivers in order: release the earlier one first).
   */
  release(order?: readonly number[], options?: { gapMs?: number }): Promise<void>
  /** Stops holding new replies and delivers those still held, in arrival order. */
  end(): Promise<void>
}

export interface HeldReplyInfo extends ReplyContext {
  readonly index: number
  /** `lost` when the client closed its connection before the reply was released. */
  readonly state: 'held' | 'released' | 'lost'
}

export interface FaultProxyStats {
  /** Client connections accepted. */
  readonly connections: number
  readonly openConnections: number
  /** Requests seen from clients (black-holed ones included). */
  readonly requests: number
  /** Whole replies received from the server (HTTP 1xx interim responses not included). */
  readonly replies: number
  /** Replies passed on unchanged (at once, after a delay, or on release). */
  readonly delivered: number
  /** Replies swallowed and replaced by an answer of the proxy's own (`answer500`, `answerWith`). */
  readonly answered: number
  /** Client connections the proxy dropped: by `dropReplies` or `dropConnections`. */
  readonly dropped: number
  /** Client connections black-holed (accepted, or kept, and never answered again). */
  readonly blackHoled: number
  /** Black-holed connections that the client has since closed: it gave up waiting. */
  readonly abandonedByClient: number
  /** Connections to the server that failed (refused, reset). */
  readonly upstreamErrors: number
}

/**
 * A running proxy. Faults act on replies as they arrive from the server, so a request issued
 * before a fault was added is still subject to it if its reply comes later.
 */
export interface FaultProxy {
  readonly host: string
  readonly port: number
  /** `http://127.0.0.1:<port>` for the `http` protocol, `redis://127.0.0.1:<port>` otherwise. */
  readonly url: string
  readonly stats: FaultProxyStats
  /**
   * "Apply then drop": the request reaches the server, and when its reply arrives the proxy drops
   * the client connection instead of delivering it. With `reset` (the default) the client sees
   * ECONNRESET, which the AWS SDK retries and ioredis reconnects after; without it, a plain close.
   */
  dropReplies(options?: FaultOptions & { readonly reset?: boolean }): FaultHandle
  /**
   * "Apply then answer 500" (HTTP only): the request reaches the server, the real reply is
   * swallowed, and the client gets `500 Internal Server Error` with a DynamoDB-style
   * `InternalFailure` JSON body. The connection stays open (keep-alive) unless the request or
   * the real reply said `Connection: close`.
   */
  answer500(options?: FaultOptions & { readonly message?: string }): FaultHandle
  /** Swallows matching replies and sends these bytes instead (e.g. `-LOADING ...\r\n` for Redis). */
  answerWith(reply: string | Buffer | ((context: ReplyContext) => string | Buffer), options?: FaultOptions): FaultHandle
  /**
   * Delivers each matching reply `ms` after it arrived from the server; a function chooses the delay
   * reply by reply. Later replies of the same connection queue behind a delayed one.
   */
  delayReplies(ms: number | ((context: ReplyContext) => number), options?: FaultOptions): FaultHandle
  /** Holds matching replies until released; see {@link ReplyHold}. */
  holdReplies(options?: Pick<FaultOptions, 'match'>): ReplyHold
  /**
   * Black hole: new connections are accepted and never connected to the server, and requests on
   * open connections are swallowed. A connection once black-holed stays so after `cancel()` (its
   * replies could no longer be paired with its requests); the client's timeout must end it, or
   * {@link FaultProxy.dropConnections}.
   */
  blackHole(): FaultHandle
  /**
   * Calls `listener` with every whole reply from the server and the request it answers, before any
   * fault acts on it (a fault's `match` only sees replies until the fault is used up). Returns the
   * function that unsubscribes. A listener that throws is ignored.
   */
  observe(listener: (context: ReplyContext) => void): () => void
  /** Cancels every fault and the black hole, and delivers held replies in arrival order. */
  passThrough(): void
  /** Resets every open client connection (and its server connection), as a network blip would. */
  dropConnections(): void
  /** Closes everything; held and delayed replies are discarded. */
  stop(): Promise<void>
}

type Action =
  | { readonly kind: 'drop'; readonly reset: boolean }
  | { readonly kind: 'answer'; readonly reply: (context: ReplyContext) => { bytes: Buffer; close: boolean } }
  | { readonly kind: 'delay'; readonly ms: (context: ReplyContext) => number }
  | { readonly kind: 'hold'; readonly hold: HoldState }

interface Waiter {
  readonly count: number
  readonly resolve: () => void
  readonly reject: (error: Error) => void
}

/** What a FaultHandle reports on: how often a fault was applied, and who waits for it. */
interface Tracked {
  remaining: number
  applied: number
  cancelled: boolean
  readonly waiters: Waiter[]
}

/** A fault on replies. */
interface Rule extends Tracked {
  readonly action: Action
  readonly match: ((context: ReplyContext) => boolean) | undefined
}

/** What is to happen, in order, on a client connection: a reply to deliver, an answer, a drop. */
interface Outbound {
  readonly mode: 'deliver' | 'answer' | 'drop'
  readonly chunks: Buffer[]
  /** For `answer`: end the connection after writing (the exchange said `Connection: close`). */
  readonly closeAfter: boolean
  readonly reset: boolean
  /** A counted reply, as opposed to an HTTP interim response or a continuation chunk. */
  readonly counted: boolean
  ready: boolean
  /** Still waiting in the queue: in chunk mode, more bytes of the same reply may be added. */
  queued: boolean
  /** Called once the bytes are handed to the kernel, or the connection is gone. */
  readonly settled: Promise<void>
  readonly settle: () => void
}

interface Connection {
  readonly id: number
  readonly client: Socket
  upstream: Socket | undefined
  readonly requestFramer: MessageFramer | undefined
  readonly replyFramer: MessageFramer | undefined
  readonly pendingRequests: WireMessage[]
  readonly queue: Outbound[]
  /** Chunk mode: bytes the client wrote since the last reply began, and whether there were any. */
  chunkRequest: Buffer[]
  /** Chunk mode: the last reply, so that more bytes of it share its fate. */
  lastReply: Outbound | undefined
  upstreamDone: boolean
  blackHoled: boolean
  gone: boolean
}

interface HeldReply {
  readonly index: number
  readonly context: ReplyContext
  readonly connection: Connection
  readonly entry: Outbound
  state: 'held' | 'released' | 'lost'
}

interface HoldState {
  readonly replies: HeldReply[]
  readonly waiters: Waiter[]
}

function outbound(
  mode: Outbound['mode'],
  chunks: Buffer[],
  options: { ready?: boolean; counted?: boolean; closeAfter?: boolean; reset?: boolean } = {},
): Outbound {
  let settle = () => {}
  const settled = new Promise<void>((resolve) => {
    settle = resolve
  })
  return {
    mode,
    chunks,
    closeAfter: options.closeAfter ?? false,
    reset: options.reset ?? true,
    counted: options.counted ?? true,
    ready: options.ready ?? true,
    queued: true,
    settled,
    settle,
  }
}

/** A DynamoDB-style 500, framed for a keep-alive connection unless `close` is asked for. */
function internalFailure(message: string, close: boolean): Buffer {
  const body = JSON.stringify({ __type: 'com.amazon.coral.service#InternalFailure', message })
  return Buffer.from(
    [
      'HTTP/1.1 500 Internal Server Error',
      `x-amzn-RequestId: ${randomUUID()}`,
      'Content-Type: application/x-amz-json-1.0',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `Date: ${new Date().toUTCString()}`,
      `Connection: ${close ? 'close' : 'keep-alive'}`,
      '',
      body,
    ].join('\r\n'),
  )
}

function saysClose(message: WireMessage | undefined): boolean {
  return /\bclose\b/i.test(message?.http?.headers.get('connection') ?? '')
}

/**
 * Starts a proxy on an ephemeral loopback port in front of `target`, passing everything through.
 *
 * @example
 * const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: dynamoPort }, protocol: 'http' })
 * const client = dynamo.client({ endpoint: proxy.url, maxAttempts: 2 })
 * proxy.dropReplies({ times: 1, match: ({ request }) => /UpdateItem/.test(request?.http?.headers.get('x-amz-target') ?? '') })
 * await client.send(update) // applied twice: the first answer was lost, the SDK retried
 * await proxy.stop()
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const { target, protocol } = options
  const counters = {
    connections: 0,
    requests: 0,
    replies: 0,
    delivered: 0,
    answered: 0,
    dropped: 0,
    blackHoled: 0,
    abandonedByClient: 0,
    upstreamErrors: 0,
  }
  const connections = new Set<Connection>()
  /** Faults in force, in the order they take replies. */
  const rules: Rule[] = []
  /** Every fault ever added, so that stop() can reject whoever still waits on one. */
  const everyRule = new Set<Tracked>()
  const timers = new Set<NodeJS.Timeout>()
  const holds: HoldState[] = []
  const observers = new Set<(context: ReplyContext) => void>()
  /** The black hole in force: it acts on connections, so it is not among the rules on replies. */
  let blackHoleRule: Tracked | undefined
  let nextConnectionId = 1
  let stopped = false

  function notify(rule: Tracked): void {
    for (const waiter of [...rule.waiters]) {
      if (rule.applied >= waiter.count) {
        rule.waiters.splice(rule.waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }

  function addRule(action: Action, faultOptions: FaultOptions = {}): Rule {
    const times = faultOptions.times ?? Number.POSITIVE_INFINITY
    if (!(times > 0)) throw new RangeError(`times must be a positive number of replies, received ${times}`)
    const rule: Rule = {
      action,
      match: faultOptions.match,
      remaining: times,
      applied: 0,
      cancelled: false,
      waiters: [],
    }
    rules.push(rule)
    everyRule.add(rule)
    return rule
  }

  function handle(rule: Tracked, remove: () => void): FaultHandle {
    return {
      get applied() {
        return rule.applied
      },
      get active() {
        return !rule.cancelled && rule.remaining > 0
      },
      whenApplied(times = 1) {
        if (rule.applied >= times) return Promise.resolve()
        if (stopped) return Promise.reject(new Error('The fault proxy has stopped'))
        return new Promise<void>((resolve, reject) => rule.waiters.push({ count: times, resolve, reject }))
      },
      cancel() {
        rule.cancelled = true
        remove()
      },
    }
  }

  function removeRule(rule: Rule): void {
    const at = rules.indexOf(rule)
    if (at >= 0) rules.splice(at, 1)
  }

  /** The first fault in force that takes this reply, counted as applied. */
  function takeRule(context: ReplyContext): Rule | undefined {
    for (const rule of rules) {
      if (rule.cancelled || rule.remaining <= 0) continue
      if (rule.match !== undefined && !rule.match(context)) continue
      rule.remaining--
      rule.applied++
      if (rule.remaining <= 0) removeRule(rule)
      notify(rule)
      return rule
    }
    return undefined
  }

  function notifyHold(hold: HoldState): void {
    const pending = hold.replies.filter((reply) => reply.state === 'held').length
    for (const waiter of [...hold.waiters]) {
      if (pending >= waiter.count) {
        hold.waiters.splice(hold.waiters.indexOf(waiter), 1)
        waiter.resolve()
      }
    }
  }

  function drop(connection: Connection, reset: boolean): void {
    if (connection.gone) return
    counters.dropped++
    connection.gone = true
    if (reset) connection.client.resetAndDestroy()
    else connection.client.end()
    connection.upstream?.destroy()
  }

  /** Writes what is ready at the head of the connection's queue, in order. */
  function pump(connection: Connection): void {
    while (!connection.gone) {
      const entry = connection.queue[0]
      if (entry === undefined) {
        if (connection.upstreamDone) connection.client.end()
        return
      }
      if (!entry.ready) return
      connection.queue.shift()
      entry.queued = false
      if (entry.mode === 'drop') {
        drop(connection, entry.reset)
        entry.settle()
        return
      }
      if (entry.counted) {
        if (entry.mode === 'deliver') counters.delivered++
        else counters.answered++
      }
      connection.client.write(Buffer.concat(entry.chunks), () => entry.settle())
      if (entry.closeAfter) {
        connection.gone = true
        connection.client.end()
        connection.upstream?.destroy()
      }
    }
  }

  /** Decides the fate of one whole reply from the server. */
  function onReply(connection: Connection, reply: WireMessage, request: WireMessage | undefined): Outbound {
    counters.replies++
    const context: ReplyContext = { connectionId: connection.id, request, reply }
    for (const listener of observers) {
      try {
        listener(context)
      } catch {
        // An observer watches; it must not change what the client gets.
      }
    }
    const rule = takeRule(context)
    const action = rule?.action
    let entry: Outbound
    switch (action?.kind) {
      case undefined:
        entry = outbound('deliver', [reply.bytes])
        break
      case 'drop':
        entry = outbound('drop', [], { reset: action.reset })
        break
      case 'answer': {
        const answer = action.reply(context)
        entry = outbound('answer', [answer.bytes], { closeAfter: answer.close })
        break
      }
      case 'delay': {
        entry = outbound('deliver', [reply.bytes], { ready: false })
        const created = entry
        const timer = setTimeout(() => {
          timers.delete(timer)
          created.ready = true
          pump(connection)
        }, action.ms(context))
        timers.add(timer)
        break
      }
      case 'hold': {
        entry = outbound('deliver', [reply.bytes], { ready: false })
        const { hold } = action
        hold.replies.push({ index: hold.replies.length, context, connection, entry, state: 'held' })
        notifyHold(hold)
        break
      }
    }
    connection.queue.push(entry)
    pump(connection)
    return entry
  }

  function onServerData(connection: Connection, chunk: Buffer): void {
    if (connection.gone) return
    if (connection.replyFramer !== undefined) {
      for (const reply of connection.replyFramer.push(chunk)) {
        if (reply.interim) {
          // "100 Continue" and the like: part of waiting for the reply, never a fault's target.
          connection.queue.push(outbound('deliver', [reply.bytes], { counted: false }))
          pump(connection)
          continue
        }
        onReply(connection, reply, connection.pendingRequests.shift())
      }
      return
    }
    // Chunk mode: bytes after a client write start a reply; later bytes continue it.
    const last = connection.lastReply
    if (connection.chunkRequest.length === 0 && last !== undefined) {
      if (last.mode !== 'deliver') return // the reply was dropped or answered for; so is the rest of it
      if (last.queued) last.chunks.push(chunk)
      else {
        connection.queue.push(outbound('deliver', [chunk], { counted: false }))
        pump(connection)
      }
      return
    }
    const request =
      connection.chunkRequest.length === 0 ? undefined : wireMessage(Buffer.concat(connection.chunkRequest))
    connection.chunkRequest = []
    connection.lastReply = onReply(connection, wireMessage(chunk), request)
  }

  function onClientData(connection: Connection, chunk: Buffer): void {
    if (connection.gone) return
    if (connection.requestFramer !== undefined) {
      const requests = connection.requestFramer.push(chunk)
      counters.requests += requests.length
      connection.pendingRequests.push(...requests)
    } else {
      if (connection.chunkRequest.length === 0) counters.requests++
      connection.chunkRequest.push(chunk)
    }
    if (!connection.blackHoled && blackHoleRule !== undefined && !blackHoleRule.cancelled) {
      connection.blackHoled = true
      counters.blackHoled++
      blackHoleRule.applied++
      notify(blackHoleRule)
    }
    if (connection.blackHoled) return
    connection.upstream?.write(chunk)
  }

  function accept(client: Socket): void {
    counters.connections++
    client.setNoDelay(true)
    const connection: Connection = {
      id: nextConnectionId++,
      client,
      upstream: undefined,
      requestFramer:
        protocol === 'http' ? httpFramer('request') : protocol === 'resp' ? respFramer('request') : undefined,
      replyFramer:
        protocol === 'http'
          ? httpFramer('response', (ahead) => connection.pendingRequests[ahead]?.http?.startLine.split(' ')[0])
          : protocol === 'resp'
            ? respFramer('response')
            : undefined,
      pendingRequests: [],
      queue: [],
      chunkRequest: [],
      lastReply: undefined,
      upstreamDone: false,
      blackHoled: false,
      gone: false,
    }
    connections.add(connection)
    // Errors show up as 'close' as well; without a listener they would crash the test process.
    client.on('error', () => {})
    client.on('close', () => {
      connection.gone = true
      connections.delete(connection)
      if (connection.blackHoled) counters.abandonedByClient++
      connection.upstream?.destroy()
      for (const entry of connection.queue.splice(0)) entry.settle()
      for (const hold of holds) {
        for (const held of hold.replies)
          if (held.connection === connection && held.state === 'held') held.state = 'lost'
      }
    })
    client.on('data', (chunk: Buffer) => {
      try {
        onClientData(connection, chunk)
      } catch {
        // Bytes the framer cannot read: nothing sensible can follow on this connection.
        drop(connection, true)
      }
    })
    if (blackHoleRule !== undefined && !blackHoleRule.cancelled) {
      connection.blackHoled = true
      counters.blackHoled++
      blackHoleRule.applied++
      notify(blackHoleRule)
      return
    }
    const upstream = new Socket()
    connection.upstream = upstream
    upstream.setNoDelay(true)
    upstream.on('error', () => {
      counters.upstreamErrors++
    })
    upstream.on('data', (chunk: Buffer) => {
      try {
        onServerData(connection, chunk)
      } catch {
        drop(connection, true)
      }
    })
    upstream.on('close', (hadError: boolean) => {
      if (connection.gone) return
      if (hadError) {
        // The server refused or reset: the client sees the same.
        drop(connection, true)
        return
      }
      // A response delimited by the close is complete now; deliver what is queued, then close.
      if (connection.replyFramer !== undefined) {
        for (const reply of connection.replyFramer.end()) onReply(connection, reply, connection.pendingRequests.shift())
      }
      connection.upstreamDone = true
      pump(connection)
    })
    // Writes made before the connection is up are queued by the socket.
    upstream.connect(target.port, target.host)
  }

  const server: Server = createServer(accept)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const host = '127.0.0.1'

  function holdReplies(holdOptions: Pick<FaultOptions, 'match'> = {}): ReplyHold {
    const hold: HoldState = { replies: [], waiters: [] }
    holds.push(hold)
    const rule = addRule({ kind: 'hold', hold }, holdOptions)
    const pending = () => hold.replies.filter((reply) => reply.state === 'held').length

    async function releaseOne(held: HeldReply): Promise<void> {
      if (held.state !== 'held') return
      const ahead = held.connection.queue.slice(0, Math.max(held.connection.queue.indexOf(held.entry), 0))
      const blocking = hold.replies.find((other) => other.state === 'held' && ahead.includes(other.entry))
      if (blocking !== undefined) {
        throw new Error(
          `Held reply ${held.index} is queued behind held reply ${blocking.index} on connection ${held.connection.id}; ` +
            'one connection delivers in order, so release that one first',
        )
      }
      held.state = 'released'
      held.entry.ready = true
      pump(held.connection)
      await held.entry.settled
    }

    async function release(order?: readonly number[], releaseOptions: { gapMs?: number } = {}): Promise<void> {
      const gapMs = releaseOptions.gapMs ?? 20
      const chosen =
        order === undefined
          ? hold.replies.filter((reply) => reply.state === 'held')
          : order.map((index) => {
              const held = hold.replies[index]
              if (held === undefined) throw new RangeError(`No held reply ${index}: ${hold.replies.length} were caught`)
              if (held.state === 'released') throw new Error(`Held reply ${index} was already released`)
              return held
            })
      for (const [position, held] of chosen.entries()) {
        if (position > 0 && gapMs > 0) await sleep(gapMs)
        await releaseOne(held)
      }
    }

    return {
      pending,
      untilPending(count) {
        if (pending() >= count) return Promise.resolve()
        if (stopped) return Promise.reject(new Error('The fault proxy has stopped'))
        return new Promise<void>((resolve, reject) => hold.waiters.push({ count, resolve, reject }))
      },
      replies: () =>
        hold.replies.map((held) => ({ ...held.context, index: held.index, state: held.state }) satisfies HeldReplyInfo),
      release,
      async end() {
        rule.cancelled = true
        removeRule(rule)
        await release(undefined, { gapMs: 0 })
      },
    }
  }

  return {
    host,
    port,
    url: `${protocol === 'http' ? 'http' : 'redis'}://${host}:${port}`,
    get stats(): FaultProxyStats {
      return { ...counters, openConnections: connections.size }
    },
    dropReplies(faultOptions = {}) {
      const rule = addRule({ kind: 'drop', reset: faultOptions.reset ?? true }, faultOptions)
      return handle(rule, () => removeRule(rule))
    },
    answer500(faultOptions = {}) {
      if (protocol !== 'http') throw new Error(`answer500 needs the http protocol; this proxy speaks ${protocol}`)
      const message = faultOptions.message ?? 'Injected by the fault proxy: the request was applied, the answer lost'
      const rule = addRule(
        {
          kind: 'answer',
          reply: ({ request, reply }) => {
            const close = saysClose(request) || saysClose(reply)
            return { bytes: internalFailure(message, close), close }
          },
        },
        faultOptions,
      )
      return handle(rule, () => removeRule(rule))
    },
    answerWith(reply, faultOptions = {}) {
      const bytes = (context: ReplyContext) => {
        const chosen = typeof reply === 'function' ? reply(context) : reply
        return Buffer.isBuffer(chosen) ? chosen : Buffer.from(chosen)
      }
      const rule = addRule(
        { kind: 'answer', reply: (context) => ({ bytes: bytes(context), close: false }) },
        faultOptions,
      )
      return handle(rule, () => removeRule(rule))
    },
    delayReplies(ms, faultOptions = {}) {
      if (typeof ms === 'number' && !(ms >= 0)) {
        throw new RangeError(`delayReplies needs a delay of 0 ms or more, received ${ms}`)
      }
      const rule = addRule({ kind: 'delay', ms: typeof ms === 'number' ? () => ms : ms }, faultOptions)
      return handle(rule, () => removeRule(rule))
    },
    holdReplies,
    blackHole() {
      const rule: Tracked = { remaining: Number.POSITIVE_INFINITY, applied: 0, cancelled: false, waiters: [] }
      if (blackHoleRule !== undefined) blackHoleRule.cancelled = true
      blackHoleRule = rule
      everyRule.add(rule)
      return handle(rule, () => {
        if (blackHoleRule === rule) blackHoleRule = undefined
      })
    },
    observe(listener) {
      observers.add(listener)
      return () => observers.delete(listener)
    },
    passThrough() {
      for (const rule of rules.splice(0)) rule.cancelled = true
      if (blackHoleRule !== undefined) blackHoleRule.cancelled = true
      blackHoleRule = undefined
      // Deliver what is held, connection by connection in arrival order.
      for (const hold of holds) {
        for (const held of hold.replies) {
          if (held.state !== 'held') continue
          held.state = 'released'
          held.entry.ready = true
        }
      }
      for (const connection of connections) pump(connection)
    },
    dropConnections() {
      for (const connection of [...connections]) drop(connection, true)
    },
    async stop() {
      stopped = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      const error = new Error('The fault proxy has stopped')
      for (const rule of everyRule) {
        for (const waiter of rule.waiters.splice(0)) waiter.reject(error)
      }
      for (const hold of holds) for (const waiter of hold.waiters.splice(0)) waiter.reject(error)
      for (const connection of connections) {
        connection.gone = true
        connection.client.destroy()
        connection.upstream?.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
