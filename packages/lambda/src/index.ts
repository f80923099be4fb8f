export {
  AlarmAction,
  type AlarmHandlerOptions,
  type AlarmHandlerResult,
  type AlarmState,
  type AlarmStateChangeEvent,
  alarmActor,
  alarmHandler,
} from './alarm/handler.js'
export {
  InvalidAlarmEventError,
  InvalidTaskInputError,
  isInvalidAlarmEventError,
  isInvalidTaskInputError,
  LambdaErrorName,
} from './errors.js'
export {
  type HealthCheckHandlerOptions,
  HealthCheckOutcome,
  type HealthCheckResult,
  type HealthCheckSkipReason,
  type HealthCheckSummary,
  type HealthCheckTarget,
  healthCheckHandler,
} from './health-check/handler.js'
export {
  DEFAULT_CHECK_TIMEOUT_MS,
  type FunctionHealthCheck,
  type HealthCheck,
  type UrlHealthCheck,
} from './health-check/run-check.js'
export type { RemainingTime } from './lambda-context.js'
export {
  type CheckCircuitInput,
  type CheckCircuitOutput,
  checkCircuitTask,
  type RecordOutcomeInput,
  type RecordOutcomeOutput,
  recordOutcomeTask,
  type TaskHandler,
  type TaskHandlerOptions,
} from './step-functions/tasks.js'
