import { CircuitBreaker } from './breaker.js'
import { InvalidConfigurationError } from './errors.js'
import type { CircuitBreakerOptions } from './options.js'
import { type CircuitSnapshot, toSnapshot } from './snapshot.js'
import { initialRecord } from './state.js'

/** Options a particular downstream may override. */
export type DownstreamOptions = Omit<CircuitBreakerOptions<never>, 'store' | 'circuitId' | 'fallback'>

/**
 * Options of {@link BreakerRegistry}: those every breaker shares, plus overrides per downstream.
 *
 * @example
 * ```ts
 * const options: BreakerRegistryOptions = {
 *   store,
 *   failureThreshold: 5,
 *   downstreams: { payment: { callTimeoutMs: 3_000 }, inventory: { callTimeoutMs: 800 } },
 * }
 * ```
 */
export interface BreakerRegistryOptions extends Omit<CircuitBreakerOptions<never>, 'circuitId' | 'fallback'> {
  /**
   * Put before each downstream's name to form its circuit id. Default `''`: every function using
   * the same store and downstream name shares one circuit, which is usually what a dependency
   * shared by several functions wants.
   */
  readonly circuitIdPrefix?: string
  /** Options for particular downstreams, over the shared ones. */
  readonly downstreams?: Readonly<Record<string, DownstreamOptions>>
}

/**
 * One breaker per downstream, created on first use and kept for the life of the execution
 * environment. Create the registry at module scope; `get()` in the handler is a map lookup.
 *
 * @example
 * ```ts
 * const breakers = new BreakerRegistry({ store: new DynamoDBStore({ tableName: 'circuit-breakers' }) })
 *
 * export const handler = async (order: Order) => {
 *   const payment = await breakers.get('payment').execute((signal) => charge(order, signal))
 *   const stock = await breakers.get('inventory').execute((signal) => reserve(order, signal))
 *   return { payment, stock }
 * }
 * ```
 */
export class BreakerRegistry {
  readonly #options: BreakerRegistryOptions
  readonly #breakers = new Map<string, CircuitBreaker>()

  constructor(options: BreakerRegistryOptions) {
    const prefix: unknown = options.circuitIdPrefix
    if (prefix !== undefined && typeof prefix !== 'string') {
      throw new InvalidConfigurationError('circuitIdPrefix', prefix, 'a string')
    }
    this.#options = options
  }

  /** The breaker of downstream `name`, created with the shared and per-downstream options on first use. */
  get(name: string): CircuitBreaker {
    let breaker = this.#breakers.get(name)
    if (breaker === undefined) {
      if (typeof name !== 'string' || name.trim() === '') {
        throw new InvalidConfigurationError('name', name, 'a non-blank downstream name')
      }
      const { circuitIdPrefix = '', downstreams, ...shared } = this.#options
      breaker = new CircuitBreaker({ ...shared, ...downstreams?.[name], circuitId: `${circuitIdPrefix}${name}` })
      this.#breakers.set(name, breaker)
    }
    return breaker
  }

  /** The downstreams whose breakers exist so far. */
  names(): string[] {
    return [...this.#breakers.keys()]
  }

  /**
   * The state of every downstream in `names` (default: those created so far), read from the store
   * in one batch, for a health endpoint or a dashboard.
   *
   * @example
   * ```ts
   * const states = await breakers.states(['payment', 'inventory'])
   * states.get('payment')?.state // 'OPEN'
   * ```
   */
  async states(names: readonly string[] = this.names()): Promise<Map<string, CircuitSnapshot>> {
    const breakers = names.map((name) => [name, this.get(name)] as const)
    const { store } = this.#options
    const now = (this.#options.now ?? Date.now)()
    const timeoutMs = breakers[0]?.[1].options.storeTimeoutMs ?? 0
    const records = await store.getMany(
      breakers.map(([, breaker]) => breaker.circuitId),
      { signal: AbortSignal.timeout(Math.max(1, timeoutMs)), now },
    )
    return new Map(
      breakers.map(([name, breaker]) => {
        const record = records.get(breaker.circuitId) ?? initialRecord(breaker.circuitId)
        return [name, toSnapshot(record, now, 'store', breaker.options)]
      }),
    )
  }
}
