import type { Logger } from '@fleet-breaker/core'
import type { WarningCount } from './records.js'

/**
 * Collects warnings instead of printing them: a run's breakers log through it, and the result
 * lists each distinct message once, with how many times it came.
 *
 * @example
 * ```ts
 * const warnings = new WarningLog()
 * new CircuitBreaker({ circuitId: 'x', store, logger: warnings.logger })
 * warnings.counts() // [{ message: 'fleet-breaker: store unavailable ...', count: 3 }]
 * ```
 */
export class WarningLog {
  readonly #counts = new Map<string, number>()

  /** A logger that keeps warnings and errors and drops the rest. */
  readonly logger: Logger = {
    debug: () => {},
    info: () => {},
    warn: (message) => this.add(message),
    error: (message) => this.add(message),
  }

  add(message: string): void {
    this.#counts.set(message, (this.#counts.get(message) ?? 0) + 1)
  }

  counts(): WarningCount[] {
    return [...this.#counts].map(([message, count]) => ({ message, count }))
  }
}
