import type { Logger } from '@fleet-breaker/core'
import { LogLevel } from './config.js'

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

/**
 * One JSON line per entry on stdout (Lambda sends an extension's output to the function's log
 * group), dropping entries below `level`. Every line names the extension, so its entries stand
 * out from the function's own.
 */
export function extensionLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const at =
    (entryLevel: LogLevel) =>
    (message: string, details?: Record<string, unknown>): void => {
      if (RANK[entryLevel] < RANK[level]) return
      try {
        write(
          JSON.stringify(
            { level: entryLevel.toUpperCase(), source: 'fleet-breaker-extension', message, ...details },
            (_key, value: unknown) => (value instanceof Error ? { name: value.name, message: value.message } : value),
          ),
        )
      } catch {
        // A detail that cannot be serialised (a cycle) must not break the caller.
        write(JSON.stringify({ level: entryLevel.toUpperCase(), source: 'fleet-breaker-extension', message }))
      }
    }
  return { debug: at(LogLevel.DEBUG), info: at(LogLevel.INFO), warn: at(LogLevel.WARN), error: at(LogLevel.ERROR) }
}
