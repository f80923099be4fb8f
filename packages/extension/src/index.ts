export { CircuitLimitError, isValidCircuitId, MAX_HTTP_CIRCUIT_ID_LENGTH } from './circuits.js'
export {
  EXTENSION_DEFAULTS,
  EXTENSION_ENVIRONMENT_VARIABLES,
  type ExtensionConfig,
  LogLevel,
  readExtensionConfig,
} from './config.js'
export { EXTENSION_NAME, ExtensionErrorType, type RunExtensionOptions, runExtension } from './extension.js'
export {
  ExtensionsApiClient,
  ExtensionsApiError,
  type InvokeEvent,
  type LifecycleEvent,
  LifecycleEventType,
  type ShutdownEvent,
} from './extensions-api.js'
export { ApiError, ApiErrorCode } from './http/errors.js'
export { MAX_BODY_BYTES, REQUEST_ID_HEADER, TOKEN_HEADER } from './http/request.js'
export { ATTRIBUTION_GRACE_MS, Outcome, PermitLimitError } from './permit-ledger.js'
export {
  AdminAction,
  type AdminAnswer,
  type AdminRequest,
  type AdmitAnswer,
  type CheckAnswer,
  type DenialReason,
  type StateAnswer,
} from './service.js'
