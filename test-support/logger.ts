import type { Logger } from '@fleet-breaker/core'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogEntry {
  readonly level: LogLevel
  readonly message: string
  readonly details?: Record<string, unknown>
}

/** A logger that keeps what it is given, for tests that check what was logged. */
export interface RecordingLogger extends Logger {
  readonly entries: LogEntry[]
  /** The entries of one level, in order. */
  at(level: LogLevel): LogEntry[]
}

export function recordingLogger(): RecordingLogger {
  const entries: LogEntry[] = []
  const log = (level: LogLevel) => (message: string, details?: Record<string, unknown>) => {
    entries.push(details === undefined ? { level, message } : { level, message, details })
  }
  return {
    entries,
    at: (level) => entries.filter((entry) => entry.level === level),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  }
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
