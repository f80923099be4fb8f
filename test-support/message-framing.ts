import { parseResp, type RespValue } from './resp.js'

/*
 * Cuts a TCP byte stream into protocol messages, so the fault proxy can count requests and act on
 * whole replies (drop the connection when a reply is complete, swallow it, hold it back) rather
 * than on whatever chunks TCP happened to deliver.
 */

/** One complete message taken from a stream. */
export interface WireMessage {
  /** The message exactly as it travelled. */
  readonly bytes: Buffer
  /** The bytes as UTF-8, for matching on a header, a JSON field or a command name. */
  readonly text: string
  /** For HTTP: the start line (`POST / HTTP/1.1`, `HTTP/1.1 200 OK`) and the headers, names in lower case. */
  readonly http?: { readonly startLine: string; readonly headers: ReadonlyMap<string, string> }
  /** For HTTP: a 1xx response that precedes the real one (it is passed on and never counted as a reply). */
  readonly interim?: boolean
  /** For a RESP request: the command name (upper case) and its arguments. */
  readonly command?: readonly string[]
}

/** Turns bytes into messages as they arrive. */
export interface MessageFramer {
  /** Feeds bytes; returns the messages they complete, in order. */
  push(chunk: Buffer): WireMessage[]
  /** The stream ended: returns a message that was delimited by the close (an HTTP body without length). */
  end(): WireMessage[]
}

export function wireMessage(bytes: Buffer, extra: Omit<WireMessage, 'bytes' | 'text'> = {}): WireMessage {
  let text: string | undefined
  return {
    bytes,
    get text() {
      text ??= bytes.toString('utf8')
      return text
    },
    ...extra,
  }
}

const HEAD_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')

type BodyState =
  | { readonly kind: 'length'; remaining: number }
  | { readonly kind: 'chunked'; phase: 'size' | 'data' | 'trailer'; remaining: number }
  | { readonly kind: 'until-close' }

/**
 * HTTP/1.1 framing, for keep-alive connections carrying one message after another. A message ends
 * after `Content-Length` bytes of body, after the last chunk of a chunked body, right after the
 * head (requests without a body, 1xx/204/304 responses, responses to HEAD), or, for a response that
 * says neither, when the server closes the connection.
 *
 * @param direction `request` for what a client sends, `response` for what a server sends.
 * @param requestMethod For responses: the method of the request a final response answers, so a reply
 *   to HEAD is known to have no body. Responses come in request order on one connection; `ahead` is
 *   the number of final responses the current `push` has already completed (the caller pairs them
 *   with requests only after `push` returns), so the answer is the method of the request that many
 *   places behind the oldest unanswered one.
 */
export function httpFramer(
  direction: 'request' | 'response',
  requestMethod: (ahead: number) => string | undefined = () => undefined,
): MessageFramer {
  let buffer: Buffer = Buffer.alloc(0)
  let head: WireMessage['http'] | undefined
  let interim = false
  let body: BodyState | undefined
  let messageStart = 0
  /** How far into `buffer` the current message has been read. */
  let at = 0
  /** Final responses completed during the current push. */
  let ahead = 0

  function startBody(http: NonNullable<WireMessage['http']>): BodyState | undefined {
    const { startLine, headers } = http
    if (direction === 'response') {
      const status = Number(startLine.split(' ')[1])
      if (status >= 100 && status < 200 && status !== 101) {
        interim = true
        return undefined
      }
      if (status === 204 || status === 304 || requestMethod(ahead) === 'HEAD') return undefined
    }
    if (/\bchunked\b/i.test(headers.get('transfer-encoding') ?? ''))
      return { kind: 'chunked', phase: 'size', remaining: 0 }
    const length = headers.get('content-length')
    if (length !== undefined) {
      const remaining = Number(length)
      if (!Number.isSafeInteger(remaining) || remaining < 0) throw new Error(`Bad Content-Length: ${length}`)
      return remaining === 0 ? undefined : { kind: 'length', remaining }
    }
    // A request without a length has no body; a response without one lasts until the close.
    return direction === 'request' ? undefined : { kind: 'until-close' }
  }

  function take(end: number): WireMessage {
    const bytes = buffer.subarray(messageStart, end)
    const message = wireMessage(Buffer.from(bytes), {
      ...(head === undefined ? {} : { http: head }),
      ...(interim ? { interim: true } : {}),
    })
    if (!interim && direction === 'response') ahead++
    buffer = buffer.subarray(end)
    at = 0
    messageStart = 0
    head = undefined
    body = undefined
    interim = false
    return message
  }

  /** Advances through the body; returns true when the message is complete. */
  function readBody(state: BodyState): boolean {
    switch (state.kind) {
      case 'length': {
        const available = Math.min(state.remaining, buffer.length - at)
        at += available
        state.remaining -= available
        return state.remaining === 0
      }
      case 'until-close':
        at = buffer.length
        return false
      case 'chunked':
        for (;;) {
          if (state.phase === 'data') {
            const available = Math.min(state.remaining, buffer.length - at)
            at += available
            state.remaining -= available
            if (state.remaining > 0) return false
            state.phase = 'size'
            continue
          }
          const eol = buffer.indexOf(CRLF, at)
          if (eol < 0) return false
          const line = buffer.toString('latin1', at, eol)
          at = eol + 2
          if (state.phase === 'trailer') {
            if (line === '') return true
            continue
          }
          // A size line: hexadecimal size, optional extensions; the data is followed by CRLF.
          const size = Number.parseInt(line.split(';')[0] ?? '', 16)
          if (Number.isNaN(size)) throw new Error(`Bad chunk size line: ${JSON.stringify(line)}`)
          if (size === 0) state.phase = 'trailer'
          else {
            state.phase = 'data'
            state.remaining = size + 2
          }
        }
    }
  }

  return {
    push(chunk: Buffer): WireMessage[] {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      const messages: WireMessage[] = []
      ahead = 0
      for (;;) {
        if (head === undefined) {
          // Tolerate the empty lines RFC 9112 allows between messages.
          while (buffer.length - at >= 2 && buffer[at] === 13 && buffer[at + 1] === 10) at += 2
          messageStart = at
          const end = buffer.indexOf(HEAD_END, at)
          if (end < 0) return messages
          const lines = buffer.toString('latin1', at, end).split('\r\n')
          const headers = new Map<string, string>()
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(':')
            if (colon > 0) {
              const name = line.slice(0, colon).trim().toLowerCase()
              const value = line.slice(colon + 1).trim()
              headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value)
            }
          }
          head = { startLine: lines[0] ?? '', headers }
          at = end + 4
          body = startBody(head)
          if (body === undefined) {
            messages.push(take(at))
            continue
          }
        }
        if (body === undefined || !readBody(body)) return messages
        messages.push(take(at))
      }
    },
    end(): WireMessage[] {
      if (body?.kind === 'until-close' && head !== undefined) return [take(buffer.length)]
      return []
    },
  }
}

function commandOf(value: RespValue): string[] | undefined {
  if (!Array.isArray(value)) return undefined
  const args = value.map((item) => String(item))
  if (args[0] !== undefined) args[0] = args[0].toUpperCase()
  return args
}

/**
 * RESP framing: each top-level value is one message. Requests are arrays of bulk strings, or
 * inline commands (`PING\r\n`) as typed into telnet. Replies include RESP3 pushes and, in pub/sub
 * or MONITOR mode, messages that answer no request.
 */
export function respFramer(direction: 'request' | 'response'): MessageFramer {
  let buffer: Buffer = Buffer.alloc(0)
  return {
    push(chunk: Buffer): WireMessage[] {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      const messages: WireMessage[] = []
      let at = 0
      while (at < buffer.length) {
        const first = buffer[at] ?? 0
        if (direction === 'request' && first !== 0x2a /* '*' */) {
          // An inline command: one line, words separated by spaces.
          const eol = buffer.indexOf(0x0a, at)
          if (eol < 0) break
          const bytes = Buffer.from(buffer.subarray(at, eol + 1))
          const words = bytes.toString('utf8').trim().split(/\s+/).filter(Boolean)
          if (words[0] !== undefined) words[0] = words[0].toUpperCase()
          messages.push(wireMessage(bytes, { command: words }))
          at = eol + 1
          continue
        }
        const parsed = parseResp(buffer, at)
        if (parsed === undefined) break
        const bytes = Buffer.from(buffer.subarray(at, parsed.end))
        const command = direction === 'request' ? commandOf(parsed.value) : undefined
        messages.push(wireMessage(bytes, command === undefined ? {} : { command }))
        at = parsed.end
      }
      buffer = buffer.subarray(at)
      return messages
    },
    end: () => [],
  }
}
