/** The structured fields of a log entry (`circuitId`, `state`, `reason`, `error`, ...). */
export type LogDetails = Record<string, unknown>

/**
 * What the breaker logs through. `console`, Powertools' `Logger` and most structured loggers fit.
 *
 * The breaker calls each method with a message and at most one object of structured fields.
 * The fields are declared as a rest parameter so that loggers whose methods take several extra
 * arguments, as Powertools' `Logger` does (`...extraInput: [Error | string] | LogAttributes[]`),
 * type-check under strict TypeScript as well as loggers that take one optional object.
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger'
 * import { CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
 *
 * export const breaker = new CircuitBreaker({
 *   circuitId: 'payment-api',
 *   store: new MemoryStore(),
 *   logger: new Logger({ serviceName: 'checkout' }),
 * })
 * ```
 */
export interface Logger {
  debug(message: string, ...details: LogDetails[]): void
  info(message: string, ...details: LogDetails[]): void
  warn(message: string, ...details: LogDetails[]): void
  error(message: string, ...details: LogDetails[]): void
}

function jsonLine(level: string, message: string, details: Record<string, unknown> | undefined): string {
  return JSON.stringify({ level, message, ...details }, (_key, value: unknown) =>
    value instanceof Error ? { name: value.name, message: value.message } : value,
  )
}

/**
 * The default logger: one JSON line per entry on the console (which Lambda sends to CloudWatch Logs),
 * `info` and above. Debug entries are dropped.
 *
 * @example
 * ```ts
 * jsonConsoleLogger.warn('store unavailable', { circuitId: 'payment-api' })
 * // {"level":"WARN","message":"store unavailable","circuitId":"payment-api"}
 * ```
 */
export const jsonConsoleLogger: Logger = {
  debug: () => {},
  info: (message, details) => console.info(jsonLine('INFO', message, details)),
  warn: (message, details) => console.warn(jsonLine('WARN', message, details)),
  error: (message, details) => console.error(jsonLine('ERROR', message, details)),
}
