import { InvalidConfigurationError } from '@fleet-breaker/core'

/**
 * The part of an ioredis client the store uses: `Redis` and `Cluster` (ioredis 5 or later) both fit.
 * The store never imports ioredis itself; it only calls these two methods on the client it is given.
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
 * A connected client of either library, told apart by the shape of its methods.
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
}

function hasMethods(value: object, ...names: string[]): boolean {
  return names.every((name) => typeof Reflect.get(value, name) === 'function')
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
      }
    }
    if (hasMethods(client, 'evalSha', 'eval')) {
      const nodeRedis = client as NodeRedisClientLike
      return {
        evalSha: async (sha, keys, args) => nodeRedis.evalSha(sha, { keys: [...keys], arguments: [...args] }),
        eval: async (source, keys, args) => nodeRedis.eval(source, { keys: [...keys], arguments: [...args] }),
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
