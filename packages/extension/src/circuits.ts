import { CircuitBreaker, type CircuitStore, type Logger } from '@fleet-breaker/core'

/** Longest circuit id the HTTP API accepts. */
export const MAX_HTTP_CIRCUIT_ID_LENGTH = 256

/**
 * The characters a circuit id may have over HTTP: letters, digits and `. _ - : @ + = ~`, starting
 * with a letter or digit. Function names, ARNs' last parts and host names all fit; nothing needs
 * escaping in a path, a log line or a store key.
 */
const CIRCUIT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+=~-]*$/

/** Whether `id` is a circuit id the HTTP API accepts. */
export function isValidCircuitId(id: string): boolean {
  return id.length <= MAX_HTTP_CIRCUIT_ID_LENGTH && CIRCUIT_ID.test(id)
}

/** Raised when every breaker slot holds a circuit with calls outstanding. */
export class CircuitLimitError extends Error {
  constructor(readonly maxCircuits: number) {
    super(
      `this environment already serves ${maxCircuits} circuits with calls outstanding; ` +
        'raise CIRCUIT_BREAKER_EXTENSION_MAX_CIRCUITS or use fewer circuit ids',
    )
    this.name = 'CircuitLimitError'
  }
}

export interface CircuitPoolOptions {
  readonly store: CircuitStore
  readonly logger: Logger
  readonly maxCircuits: number
  /** Whether a circuit has permits outstanding, which keeps its breaker from being dropped. */
  readonly isBusy: (circuitId: string) => boolean
  /**
   * Lets go of what a busy circuit holds if that is only unreported checks of the compatible API;
   * whether it is idle now. Tried, least recently used first, when every breaker is busy.
   */
  readonly makeIdle?: (circuitId: string) => boolean
}

/**
 * One breaker per circuit id, created on first use with the `CIRCUIT_BREAKER_*` options, at most
 * `maxCircuits` of them. When full, the least recently used breaker without outstanding permits
 * makes room (it only loses its cache: the circuit's state is in the store); when every breaker
 * is busy, the new circuit is refused.
 */
export class CircuitPool {
  readonly #options: CircuitPoolOptions
  /** In order of use, least recent first (a Map keeps insertion order). */
  readonly #breakers = new Map<string, CircuitBreaker>()

  constructor(options: CircuitPoolOptions) {
    this.#options = options
  }

  get size(): number {
    return this.#breakers.size
  }

  /** The breaker of `circuitId`, created if need be. Throws {@link CircuitLimitError} when full. */
  get(circuitId: string): CircuitBreaker {
    const existing = this.#breakers.get(circuitId)
    if (existing !== undefined) {
      this.#breakers.delete(circuitId)
      this.#breakers.set(circuitId, existing)
      return existing
    }
    if (this.#breakers.size >= this.#options.maxCircuits) this.#evictOne()
    const { store, logger } = this.#options
    const breaker = new CircuitBreaker({ circuitId, store, logger })
    // One line per fleet-wide transition: only the environment that made it reports it as local.
    breaker.onStateChange((change) => {
      if (change.origin !== 'local') return
      const { from, to, reason, at } = change
      logger.info('circuit state changed', { circuitId, from, to, reason, at, origin: change.origin })
    })
    this.#breakers.set(circuitId, breaker)
    return breaker
  }

  /** The breaker of `circuitId` if it exists, without creating one or changing the order. */
  peek(circuitId: string): CircuitBreaker | undefined {
    return this.#breakers.get(circuitId)
  }

  /** Drops the breaker of `circuitId` unless it has permits outstanding; the next use makes a fresh one. */
  forget(circuitId: string): void {
    if (!this.#options.isBusy(circuitId)) this.#breakers.delete(circuitId)
  }

  #evictOne(): void {
    for (const id of this.#breakers.keys()) {
      if (!this.#options.isBusy(id)) {
        this.#breakers.delete(id)
        this.#options.logger.debug('dropped the breaker of a circuit not used lately', { circuitId: id })
        return
      }
    }
    for (const id of this.#breakers.keys()) {
      if (this.#options.makeIdle?.(id) === true) {
        this.#breakers.delete(id)
        this.#options.logger.debug('dropped the breaker of a circuit with unreported checks only', { circuitId: id })
        return
      }
    }
    throw new CircuitLimitError(this.#options.maxCircuits)
  }
}
