import type { Logger } from '@fleet-breaker/core'

/** How many circuits an instance remembers having warned about, so memory stays bounded. */
const MAX_REMEMBERED = 1_000

/**
 * Logs a record the store cannot read (a foreign or corrupt item) once per circuit, not on every
 * read: the store treats it as a fresh CLOSED circuit and its next write replaces it.
 */
export class InvalidRecordReporter {
  readonly #logger: Logger
  readonly #store: string
  readonly #reported = new Set<string>()

  constructor(logger: Logger, store: string) {
    this.#logger = logger
    this.#store = store
  }

  /** Logs, once per circuit, a part of a readable record that was left out (it is rewritten by the next write of it). */
  reportBlemish(circuitId: string, what: string): void {
    const key = `blemish:${circuitId}`
    if (this.#reported.has(key)) return
    if (this.#reported.size >= MAX_REMEMBERED) this.#reported.clear()
    this.#reported.add(key)
    this.#logger.warn('fleet-breaker: part of a circuit record could not be read and is left out', {
      store: this.#store,
      circuitId,
      what,
    })
  }

  report(circuitId: string, reason: string): void {
    if (this.#reported.has(circuitId)) return
    if (this.#reported.size >= MAX_REMEMBERED) this.#reported.clear()
    this.#reported.add(circuitId)
    this.#logger.warn('fleet-breaker: ignoring an unreadable circuit record; it reads as CLOSED until replaced', {
      store: this.#store,
      circuitId,
      reason,
    })
  }
}
