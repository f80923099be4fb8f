export { retryDelayMs } from './backoff.js'
export {
  type Admission,
  type CallPermit,
  CircuitBreaker,
  type ExecuteOptions,
  type LambdaDeadline,
  type OverrideOptions,
  type Verdict,
} from './breaker.js'
export { httpStatusOf, isFailureResponse, isServiceFailure, isServiceFailureStatus } from './classify.js'
export {
  CallTimeoutError,
  CircuitBreakerError,
  CircuitBreakerErrorName,
  CircuitOpenError,
  ConcurrencyLimitError,
  type FailoverAttempt,
  FailoverExhaustedError,
  InvalidConfigurationError,
  isCallTimeoutError,
  isCircuitBreakerError,
  isCircuitOpenError,
  isConcurrencyLimitError,
  isFailoverExhaustedError,
  isInvalidConfigurationError,
  isStoreUnavailableError,
  RejectionReason,
  StoreUnavailableError,
} from './errors.js'
export {
  type ChangeOrigin,
  type StateChange,
  type StateChangeListener,
  TransitionReason,
} from './events.js'
export { type FailoverProvider, type FailoverResult, failover } from './failover.js'
export { jsonConsoleLogger, type Logger } from './logger.js'
export {
  type CircuitBreakerOptions,
  DEFAULTS,
  ENVIRONMENT_VARIABLES,
  type Fallback,
  type FallbackContext,
  type FallbackKind,
  MAX_CIRCUIT_ID_LENGTH,
  MAX_PROBE_SLOTS,
  type ResolvedOptions,
  resolveOptions,
  StoreOutagePolicy,
} from './options.js'
export { BreakerRegistry, type BreakerRegistryOptions, type DownstreamOptions } from './registry.js'
export type { CircuitSnapshot } from './snapshot.js'
export {
  activeOverride,
  type CircuitRecord,
  CircuitState,
  type ClosedRecord,
  effectiveState,
  type ForcedState,
  type ForcedStateName,
  type HalfOpenRecord,
  initialRecord,
  liveProbes,
  MAX_RECENT_OPS,
  type OpenRecord,
  type ProbeLease,
} from './state.js'
export type {
  AcquireProbeRequest,
  AddFailureRequest,
  CircuitStore,
  CompleteProbeRequest,
  OverrideRequest,
  ProbeClaim,
  ProbeOutcome,
  ResetFailuresRequest,
  ResetRequest,
  SetForcedRequest,
  SetManyEntry,
  SetManyRequest,
  StoreCallOptions,
  TransitionGuard,
  TransitionOutcome,
  TransitionRequest,
  TransitionTarget,
  WriteRequest,
} from './store/contract.js'
export {
  type DecodedRecord,
  decodeFlatRecord,
  encodeFlatRecord,
  FlatField,
  type FlatFields,
  isOpId,
  PROBE_FIELDS,
  probeExpiresField,
  probeTokenField,
  repairGeneration,
  STATE_COUNTER,
} from './store/flat-record.js'
export { MemoryStore, type MemoryStoreOptions } from './store/memory-store.js'
export {
  applyAcquireProbe,
  applyAddFailure,
  applyCompleteProbe,
  applyReset,
  applyResetFailures,
  applySetForced,
  applyTransition,
  freeProbeSlot,
  hasApplied,
  holdsLease,
  overrideAt,
  windowIsOpen,
  withRecentOp,
} from './store/semantics.js'
