import { Socket } from 'node:net'

/*
 * Just enough of the Redis protocol (RESP2 and RESP3) for the test tools: the fault proxy cuts a
 * server's byte stream into replies with it, and the server and cluster helpers ask their own
 * processes for PING, INFO, ROLE and CLUSTER * without needing a client library.
 */

/** An error reply from the server (`-ERR ...`, `-MOVED ...`, RESP3 `!` blob errors). */
export class RespError extends Error {
  override readonly name = 'RespError'
}

/** A decoded reply. Bulk and simple strings are UTF-8 strings; RESP3 maps become `Map`s. */
export type RespValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | RespError
  | readonly RespValue[]
  | ReadonlyMap<RespValue, RespValue>

/** One value decoded from a buffer, and the offset just past it. */
export interface RespParsed {
  readonly value: RespValue
  readonly end: number
}

const CRLF = Buffer.from('\r\n')

/** Encodes a command as a RESP array of bulk strings, the form every server accepts. */
export function encodeCommand(args: readonly (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg))
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF)
  }
  return Buffer.concat(parts)
}

/**
 * Decodes one value starting at `offset`, or returns `undefined` when the buffer does not hold all
 * of it yet (the caller waits for more bytes). RESP3 attributes (`|`) are read and dropped together
 * with the value they annotate, so a reply with attributes is still one value. Streamed RESP3
 * aggregates (`$?`, `*?`) are not supported: Redis itself never sends them.
 */
export function parseResp(buffer: Buffer, offset = 0): RespParsed | undefined {
  if (offset >= buffer.length) return undefined
  const type = String.fromCharCode(buffer[offset] ?? 0)
  const end = buffer.indexOf(CRLF, offset + 1)
  if (end < 0) return undefined
  const line = buffer.toString('utf8', offset + 1, end)
  const next = end + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new RespError(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '_':
      return { value: null, end: next }
    case '#':
      return { value: line === 't', end: next }
    case ',':
      return { value: Number(line), end: next }
    case '(':
      return { value: BigInt(line), end: next }
    case '$':
    case '!':
    case '=': {
      const length = Number(line)
      if (length < 0) return { value: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      let text = buffer.toString('utf8', next, next + length)
      // A verbatim string starts with its three-letter format and a colon ("txt:").
      if (type === '=') text = text.slice(4)
      return { value: type === '!' ? new RespError(text) : text, end: next + length + 2 }
    }
    case '*':
    case '~':
    case '>': {
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: RespValue[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseResp(buffer, at)
        if (item === undefined) return undefined
        items.push(item.value)
        at = item.end
      }
      return { value: items, end: at }
    }
    case '%':
    case '|': {
      const count = Number(line)
      const entries = new Map<RespValue, RespValue>()
      let at = next
      for (let i = 0; i < count; i++) {
        const key = parseResp(buffer, at)
        if (key === undefined) return undefined
        const value = parseResp(buffer, key.end)
        if (value === undefined) return undefined
        entries.set(key.value, value.value)
        at = value.end
      }
      if (type === '%') return { value: entries, end: at }
      // Attributes annotate the value that follows; both belong to one reply.
      return parseResp(buffer, at)
    }
    default:
      throw new Error(`Not a RESP value: type byte ${JSON.stringify(type)} at offset ${offset}`)
  }
}

/** Where a Redis server listens. */
export interface RedisAddress {
  readonly host: string
  readonly port: number
}

/**
 * Sends one command on a connection of its own and resolves with the reply. An error reply rejects
 * with a {@link RespError}; so does a server that has not answered within `timeoutMs`, which is
 * generous by default because a busy two-core machine can stall a fresh process for a while.
 *
 * @example
 * const info = await redisCommand({ host: '127.0.0.1', port }, ['CLUSTER', 'INFO'])
 */
export async function redisCommand(
  address: RedisAddress,
  args: readonly (string | number)[],
  options: { timeoutMs?: number } = {},
): Promise<RespValue> {
  const timeoutMs = options.timeoutMs ?? 5_000
  const socket = new Socket()
  try {
    return await new Promise<RespValue>((resolve, reject) => {
      let received = Buffer.alloc(0)
      socket.setTimeout(timeoutMs, () =>
        reject(new Error(`${address.host}:${address.port} did not answer ${args[0]} within ${timeoutMs} ms`)),
      )
      socket.once('error', reject)
      socket.once('close', () => reject(new Error(`${address.host}:${address.port} closed before answering`)))
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk])
        const parsed = parseResp(received)
        if (parsed === undefined) return
        if (parsed.value instanceof RespError) reject(parsed.value)
        else resolve(parsed.value)
      })
      socket.connect(address.port, address.host, () => socket.write(encodeCommand(args)))
    })
  } finally {
    socket.destroy()
  }
}

/** Reads `field:value` lines of an INFO or CLUSTER INFO reply into a map. */
export function parseInfo(reply: RespValue): Map<string, string> {
  if (typeof reply !== 'string') throw new Error(`Expected an INFO text reply, got ${String(reply)}`)
  const fields = new Map<string, string>()
  for (const line of reply.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  return fields
}
