import type { Logger } from '@fleet-breaker/core'

/*
 * A Redis client whose server is down emits an `error` event on every reconnection attempt. With
 * no listener, ioredis prints each as an unstructured stack trace ("[ioredis] Unhandled error
 * event") and node-redis ends the process. This module listens for them and tells the logger once
 * per outage: one warning when the client first fails, one entry when it is connected again (with
 * how many errors and how long), and one warning again if it then fails anew.
 */

/** The part of an ioredis or node-redis client this module uses: its events. */
export interface ClientWithEvents {
  on(event: string, listener: (...args: unknown[]) => void): unknown
  off?(event: string, listener: (...args: unknown[]) => void): unknown
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown
}

/** Options of {@link routeRedisClientErrors}. */
export interface RouteClientErrorsOptions {
  /** Where the two entries of an outage go: the breaker's logger. */
  readonly logger: Logger
  /** The clock, for the outage's length. Default `Date.now`. */
  readonly now?: () => number
}

/** The structured fields of a client error: no stack trace, which says nothing about the server. */
function describe(error: unknown): Record<string, unknown> {
  if (typeof error !== 'object' || error === null) return { message: String(error) }
  const fields: Record<string, unknown> = {}
  for (const key of ['name', 'message', 'code', 'address', 'port'] as const) {
    const value: unknown = Reflect.get(error, key)
    if (value !== undefined) fields[key] = value
  }
  return fields
}

/**
 * Sends a Redis client's `error` events to `logger`, once per outage, instead of stderr, and
 * returns a function that stops it. Works with ioredis (`Redis`, `Cluster`) and node-redis
 * (`createClient`, `createCluster`): both emit `error` while they cannot reach the server and
 * `ready` once they can. `createStoreFromEnvironment()` does this for the clients it creates.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { jsonConsoleLogger } from '@fleet-breaker/core'
 * import { RedisStore, routeRedisClientErrors } from '@fleet-breaker/storage/redis'
 *
 * const client = new Redis(process.env.CIRCUIT_BREAKER_REDIS_URL ?? 'redis://127.0.0.1:6379', { enableOfflineQueue: false })
 * routeRedisClientErrors(client, { logger: jsonConsoleLogger })
 * const store = new RedisStore({ client })
 * ```
 */
export function routeRedisClientErrors(client: ClientWithEvents, options: RouteClientErrorsOptions): () => void {
  const { logger } = options
  const now = options.now ?? Date.now
  let outage: { since: number; errors: number } | undefined

  const onError = (error: unknown): void => {
    if (outage !== undefined) {
      outage.errors++
      return
    }
    outage = { since: now(), errors: 1 }
    try {
      logger.warn(
        'fleet-breaker: the Redis client cannot reach its server; the breaker applies its store outage policy',
        {
          error: describe(error),
        },
      )
    } catch {
      // A logger that throws must not turn a client event into an uncaught exception.
    }
  }
  const onReady = (): void => {
    if (outage === undefined) return
    const { since, errors } = outage
    outage = undefined
    try {
      logger.info('fleet-breaker: the Redis client is connected again', { errors, outageMs: now() - since })
    } catch {
      // As above.
    }
  }
  client.on('error', onError)
  client.on('ready', onReady)
  return () => {
    const remove = (client.off ?? client.removeListener)?.bind(client)
    remove?.('error', onError)
    remove?.('ready', onReady)
  }
}
