import { InvalidConfigurationError } from '@fleet-breaker/core'

/**
 * The part of an ioredis client the store uses: `Redis` and `Cluster` (ioredis 5 or later) both fit.
 * The store never imports ioredis itself; it only calls these two methods on the client it is given
 * (and, when the client has them, reads `status` and listens to its connection events: see
 * {@link RedisStore}).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * const client: IoRedisClientLike = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
 * ```
 */
export interface IoRedisClientLike {
  evalsha(sha: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<unknown>
}

/**
 * The part of a node-redis client the store uses: `createClient()` and `createCluster()` (redis 4 or
 * later) both fit. The store never imports `redis` itself.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis'
 * const client = createClient({ url: process.env.REDIS_URL })
 * await client.connect()
 * const scripts: NodeRedisClientLike = client
 * ```
 */
export interface NodeRedisClientLike {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

/**
 * A client of either library, told apart by the shape of its methods.
 *
 * @example
 * ```ts
 * function storeFor(client: RedisClientLike) {
 *   return new RedisStore({ client })
 * }
 * ```
 */
export type RedisClientLike = IoRedisClientLike | NodeRedisClientLike

/** The one shape the store talks to, whichever library sits behind it. */
export interface ScriptClient {
  evalSha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown>
  eval(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown>
  /**
   * `undefined` when a command can be sent now. While the client is still connecting (a client just
   * created, or reconnecting), a promise that resolves, never rejects, once that connection attempt
   * has ended: ready, or failed (the command then fails with the library's own error).
   */
  connecting(): Promise<void> | undefined
  /** The client as given, for the commands that are not scripts (a listing's SCAN). */
  readonly raw: object
}

function hasMethods(value: object, ...names: string[]): boolean {
  return names.every((name) => typeof Reflect.get(value, name) === 'function')
}

/** What the store can see of a client's connection. */
type ConnectionState = 'ready' | 'connecting' | 'down'

/** The connection events of one library, and how to read its state. */
interface ConnectionWatch {
  state(client: object): ConnectionState
  /** Events after which the state may have changed; the wait ends on `endsAttempt` ones. */
  readonly events: readonly string[]
  readonly endsAttempt: ReadonlySet<string>
}

/**
 * ioredis (`Redis` and `Cluster`): `status` names the connection's phase and every phase is also
 * emitted as an event. A client created with `lazyConnect` (`wait`) connects on its first command;
 * the store starts that connection itself, as ioredis would, so that it can wait for it. The
 * `error` event is not listened to: a listener there would change what ioredis reports.
 */
const IOREDIS: ConnectionWatch = {
  state(client) {
    const status = Reflect.get(client, 'status')
    if (status === 'ready') return 'ready'
    if (status === 'wait' || status === 'connecting' || status === 'connect' || status === 'reconnecting') {
      return 'connecting'
    }
    return 'down'
  },
  events: ['ready', 'close', 'end'],
  endsAttempt: new Set(['close', 'end']),
}

/**
 * node-redis (`createClient` and `createCluster`): `isOpen` says `connect()` was called and the
 * client is not closed, `isReady` that commands can be sent. A client nobody called `connect()` on
 * is a wiring mistake the command reports. A client emits `ready`, a cluster `connect`.
 */
const NODE_REDIS: ConnectionWatch = {
  state(client) {
    if (Reflect.get(client, 'isReady') === true) return 'ready'
    return Reflect.get(client, 'isOpen') === true ? 'connecting' : 'down'
  },
  events: ['ready', 'connect', 'error', 'end', 'disconnect'],
  endsAttempt: new Set(['error', 'end', 'disconnect']),
}

interface Emitter {
  on(event: string, listener: () => void): unknown
  removeListener(event: string, listener: () => void): unknown
}

function isEmitter(client: object): client is object & Emitter {
  return hasMethods(client, 'on', 'removeListener')
}

/**
 * The connection attempt each client is waiting for, shared by every store (and every call) using
 * that client, so that a burst of calls on a cold client adds one set of listeners, not one each.
 */
const attempts = new WeakMap<object, Promise<void>>()

/**
 * The longest a call without a signal waits for a connection attempt (the breaker's calls always
 * have one, bounded by `storeTimeoutMs`). A client closed by its owner while it was reconnecting
 * can stay "reconnecting" without another event; the command then reports it.
 */
const ATTEMPT_WAIT_LIMIT_MS = 10_000

function waitForAttempt(client: object & Emitter, watch: ConnectionWatch): Promise<void> {
  const pending = attempts.get(client)
  if (pending !== undefined) return pending
  const attempt = new Promise<void>((resolve) => {
    const finish = () => {
      clearTimeout(limit)
      for (const [name, listener] of listeners) client.removeListener(name, listener)
      attempts.delete(client)
      resolve()
    }
    const check = (event: string) => {
      if (watch.state(client) === 'connecting' && !watch.endsAttempt.has(event)) return
      finish()
    }
    const listeners = watch.events.map((event) => [event, () => check(event)] as const)
    for (const [name, listener] of listeners) client.on(name, listener)
    const limit = setTimeout(finish, ATTEMPT_WAIT_LIMIT_MS)
    // Never what keeps a process (or a frozen Lambda environment's event loop) alive.
    limit.unref()
  })
  attempts.set(client, attempt)
  // ioredis with `lazyConnect` connects on the first command; start it now, as that command would.
  if (Reflect.get(client, 'status') === 'wait' && hasMethods(client, 'connect')) {
    const connect = Reflect.get(client, 'connect') as () => Promise<unknown>
    // A failed connection is reported by the command that follows (and by the client's events).
    connect.call(client).catch(() => {})
  }
  return attempt
}

function connectingOf(client: object): () => Promise<void> | undefined {
  const watch =
    typeof Reflect.get(client, 'status') === 'string'
      ? IOREDIS
      : typeof Reflect.get(client, 'isReady') === 'boolean'
        ? NODE_REDIS
        : undefined
  // A client that shows nothing of its connection (a stand-in, a wrapper) is taken as ready.
  if (watch === undefined || !isEmitter(client)) return () => undefined
  return () => (watch.state(client) === 'connecting' ? waitForAttempt(client, watch) : undefined)
}

/**
 * Wraps an ioredis or node-redis client in a {@link ScriptClient}. Anything else is a configuration
 * error: guessing at a client we do not recognise would turn a wiring mistake into odd runtime
 * failures on the first call.
 */
export function adaptClient(client: unknown): ScriptClient {
  if (typeof client === 'object' && client !== null) {
    // ioredis spells it `evalsha`; node-redis spells it `evalSha` (and has no `evalsha`).
    // The adapters are async so that a client throwing synchronously still yields a rejection.
    if (hasMethods(client, 'evalsha', 'eval')) {
      const ioredis = client as IoRedisClientLike
      return {
        evalSha: async (sha, keys, args) => ioredis.evalsha(sha, keys.length, ...keys, ...args),
        eval: async (source, keys, args) => ioredis.eval(source, keys.length, ...keys, ...args),
        connecting: connectingOf(client),
        raw: client,
      }
    }
    if (hasMethods(client, 'evalSha', 'eval')) {
      const nodeRedis = client as NodeRedisClientLike
      return {
        evalSha: async (sha, keys, args) => nodeRedis.evalSha(sha, { keys: [...keys], arguments: [...args] }),
        eval: async (source, keys, args) => nodeRedis.eval(source, { keys: [...keys], arguments: [...args] }),
        connecting: connectingOf(client),
        raw: client,
      }
    }
  }
  throw new InvalidConfigurationError(
    'client',
    client,
    'a connected ioredis client (Redis or Cluster, with evalsha and eval) or node-redis client ' +
      '(createClient or createCluster, with evalSha and eval)',
  )
}
