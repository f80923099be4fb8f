import { CircuitBreakerError } from '@fleet-breaker/core'

/** The same registry symbol as the core's errors, so `isCircuitBreakerError()` knows these too. */
const ERROR_BRAND = Symbol.for('fleet-breaker.error')

/**
 * The `name` of each error this package throws: what a Step Functions `Catch` matches on.
 *
 * @example
 * ```ts
 * const catcher = { ErrorEquals: [LambdaErrorName.INVALID_TASK_INPUT], Next: 'InvalidInput' }
 * ```
 */
export const LambdaErrorName = {
  INVALID_TASK_INPUT: 'InvalidTaskInputError',
  INVALID_ALARM_EVENT: 'InvalidAlarmEventError',
} as const
export type LambdaErrorName = (typeof LambdaErrorName)[keyof typeof LambdaErrorName]

/**
 * Thrown by a task handler whose input is not what it takes. Its `name`, `InvalidTaskInputError`,
 * is the error Step Functions reports, so a state machine can `Catch` it with
 * `"ErrorEquals": ["InvalidTaskInputError"]`. `field` names what is wrong, `value` what was received.
 *
 * @example
 * ```ts
 * try { await checkCircuit({}) } catch (error) { if (isInvalidTaskInputError(error)) console.error(error.field) } // 'circuitId'
 * ```
 */
export class InvalidTaskInputError extends CircuitBreakerError {
  readonly field: string
  readonly value: unknown

  constructor(details: { field: string; value: unknown; expected: string }) {
    super(`input.${details.field} must be ${details.expected}; received ${describe(details.value)}`)
    this.name = LambdaErrorName.INVALID_TASK_INPUT
    Object.defineProperty(this, ERROR_BRAND, {
      value: LambdaErrorName.INVALID_TASK_INPUT,
      enumerable: false,
      configurable: true,
    })
    this.field = details.field
    this.value = details.value
  }
}

/**
 * Whether `error` is an {@link InvalidTaskInputError}, across duplicate copies of this package.
 *
 * @example
 * ```ts
 * if (isInvalidTaskInputError(error)) logger.warn('bad workflow input', { field: error.field })
 * ```
 */
export function isInvalidTaskInputError(error: unknown): error is InvalidTaskInputError {
  return (
    typeof error === 'object' &&
    error !== null &&
    Reflect.get(error, ERROR_BRAND) === LambdaErrorName.INVALID_TASK_INPUT
  )
}

/**
 * Thrown by the alarm handler for an event that is not a CloudWatch alarm state change (a rule
 * that matches too much). Retrying it cannot help, so fix the rule's pattern.
 *
 * @example
 * ```ts
 * catch (error) { if (isInvalidAlarmEventError(error)) console.error('check the EventBridge rule', error.message) }
 * ```
 */
export class InvalidAlarmEventError extends CircuitBreakerError {
  constructor(message: string) {
    super(message)
    this.name = LambdaErrorName.INVALID_ALARM_EVENT
    Object.defineProperty(this, ERROR_BRAND, {
      value: LambdaErrorName.INVALID_ALARM_EVENT,
      enumerable: false,
      configurable: true,
    })
  }
}

/**
 * Whether `error` is an {@link InvalidAlarmEventError}, across duplicate copies of this package.
 *
 * @example
 * ```ts
 * if (isInvalidAlarmEventError(error)) return { ignored: true }
 * ```
 */
export function isInvalidAlarmEventError(error: unknown): error is InvalidAlarmEventError {
  return (
    typeof error === 'object' &&
    error !== null &&
    Reflect.get(error, ERROR_BRAND) === LambdaErrorName.INVALID_ALARM_EVENT
  )
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
