/**
 * What the breaker logs through. `console`, Powertools' `Logger` and most structured loggers fit.
 *
 * @example
 * ```ts
 * import { Logger } from '@aws-lambda-powertools/logger'
 * new CircuitBreaker({ circuitId: 'payment-api', store, logger: new Logger({ serviceName: 'checkout' }) })
 * ```
 */
export interface Logger {
  debug(message: string, details?: Record<string, unknown>): void
  info(message: string, details?: Record<string, unknown>): void
  warn(message: string, details?: Record<string, unknown>): void
  error(message: string, details?: Record<string, unknown>): void
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
