export { resolveActor } from './actor.js'
export type {
  ChangeRequest,
  CircuitControl,
  CircuitPage,
  CircuitStatus,
  HistoryEntry,
  OverrideChange,
  OverrideView,
} from './control.js'
export { formatDuration, parseDuration } from './duration.js'
export { CliError, ExitCode, isCliError, UsageError } from './errors.js'
export { buildProgram, run, VERSION } from './program.js'
