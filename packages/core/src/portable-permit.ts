import { randomUUID } from 'node:crypto'
import type { CallPermit } from './breaker.js'
import { CircuitBreakerError } from './errors.js'
import { PermitMode, type PermitState } from './permit.js'
import { isOpId } from './store/op-id.js'

/**
 * Where a breaker's permit keeps its state, for {@link toPortablePermit}. A registry symbol, so a
 * permit made by one copy of this package (a bundle, a layer) is understood by another.
 */
export const PERMIT_STATE: unique symbol = Symbol.for('fleet-breaker.permit-state') as never

/** What a breaker's permit keeps under {@link PERMIT_STATE}. */
export interface PermitHandle {
  readonly state: PermitState
  /**
   * Hands the permit over to whoever settles it elsewhere: the breaker that admitted it frees its
   * concurrency slot and records nothing for it. `false` when it was already settled.
   */
  handOff(): boolean
}

/** The same registry symbol as the errors of errors.ts, so `isCircuitBreakerError()` knows this one. */
const ERROR_BRAND = Symbol.for('fleet-breaker.error')
const INVALID_PERMIT = 'InvalidPermitError'

/**
 * The format version of {@link PortablePermit}.
 *
 * @example
 * ```ts
 * if (permit.version !== PORTABLE_PERMIT_VERSION) throw new Error('a permit from another release')
 * ```
 */
export const PORTABLE_PERMIT_VERSION = 1

/**
 * An admitted {@link CallPermit} as plain JSON, to carry through a workflow (a Step Functions
 * execution) and settle later, from any breaker of the same circuit, in any environment. It says
 * what the permit was admitted under, so its outcome counts exactly as it would have where it was
 * admitted: a probe's outcome decides the circuit only while its lease (`token`) is held, a closed
 * circuit's failure only counts against the generation it was admitted under.
 *
 * @example
 * ```ts
 * const portable: PortablePermit = {
 *   version: 1, circuitId: 'payment-api', mode: 'probe',
 *   incarnation: '6f1c…', generation: 7, openCount: 2, token: '0b6a…', settleId: '9d2e…',
 * }
 * ```
 */
export interface PortablePermit {
  readonly version: typeof PORTABLE_PERMIT_VERSION
  readonly circuitId: string
  /** `'probe'`: a half-open probe holding a lease; `'counted'`: a call in CLOSED; `'uncounted'`: forced closed. */
  readonly mode: PermitMode
  readonly incarnation: string
  readonly generation: number
  readonly openCount: number
  /** The probe lease's token; `''` unless `mode` is `'probe'`. */
  readonly token: string
  /**
   * Names this permit's settlement in the store: settling the same permit again (a retried task,
   * in any environment) counts a closed circuit's failure once. Absent from permits of older
   * releases, whose replays may count twice.
   */
  readonly settleId?: string
}

/**
 * Thrown when a portable permit is not one: not an object, a field missing or of the wrong kind,
 * or a permit of another circuit. `field` names what is wrong and `value` is what was received.
 *
 * @example
 * ```ts
 * try { breaker.resumePermit(input.permit) } catch (error) { if (isInvalidPermitError(error)) console.error(error.field) }
 * ```
 */
export class InvalidPermitError extends CircuitBreakerError {
  /** The field that is wrong (`permit` for the whole value). */
  readonly field: string
  readonly value: unknown

  constructor(details: { field: string; value: unknown; expected: string; circuitId?: string }) {
    const name = details.field === 'permit' ? 'permit' : `permit.${details.field}`
    super(`${name} must be ${details.expected}; received ${describe(details.value)}`, {
      ...(details.circuitId === undefined ? {} : { circuitId: details.circuitId }),
    })
    this.name = INVALID_PERMIT
    Object.defineProperty(this, ERROR_BRAND, { value: INVALID_PERMIT, enumerable: false, configurable: true })
    this.field = details.field
    this.value = details.value
  }
}

/**
 * Whether `error` is an {@link InvalidPermitError}, across duplicate copies of this package.
 *
 * @example
 * ```ts
 * if (isInvalidPermitError(error)) return { statusCode: 400 }
 * ```
 */
export function isInvalidPermitError(error: unknown): error is InvalidPermitError {
  return typeof error === 'object' && error !== null && Reflect.get(error, ERROR_BRAND) === INVALID_PERMIT
}

/**
 * The plain-JSON form of a permit `admit()` returned, to settle later with
 * `breaker.resumePermit()`, possibly in another execution environment. The permit is handed over:
 * the breaker that admitted it frees its concurrency slot, and settling the original afterwards
 * records nothing (each permit's outcome is recorded once). Throws `InvalidPermitError` for a
 * permit already settled.
 *
 * @example
 * ```ts
 * const admission = await breaker.admit()
 * if (admission.admitted) return { allowed: true, permit: toPortablePermit(admission.permit) }
 * ```
 */
export function toPortablePermit(permit: CallPermit): PortablePermit {
  const handle: unknown = typeof permit === 'object' && permit !== null ? Reflect.get(permit, PERMIT_STATE) : undefined
  if (!isPermitHandle(handle)) {
    throw new InvalidPermitError({ field: 'permit', value: permit, expected: 'a permit returned by admit()' })
  }
  if (!handle.handOff()) {
    throw new InvalidPermitError({ field: 'permit', value: permit, expected: 'a permit not settled yet' })
  }
  const { state } = handle
  return {
    version: PORTABLE_PERMIT_VERSION,
    circuitId: permit.circuitId,
    mode: state.mode,
    incarnation: state.incarnation,
    generation: state.generation,
    openCount: state.openCount,
    token: state.mode === PermitMode.PROBE ? state.token : '',
    settleId: state.settleId ?? randomUUID(),
  }
}

/**
 * Checks untrusted JSON (a workflow's input) for a portable permit of circuit `circuitId`; throws
 * {@link InvalidPermitError} naming the first field that is wrong.
 *
 * @example
 * ```ts
 * const permit = parsePortablePermit(JSON.parse(body).permit, 'payment-api')
 * ```
 */
export function parsePortablePermit(value: unknown, circuitId?: string): PortablePermit {
  const fail = (field: string, received: unknown, expected: string): never => {
    throw new InvalidPermitError({
      field,
      value: received,
      expected,
      ...(circuitId === undefined ? {} : { circuitId }),
    })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('permit', value, 'an object')
  const permit = value as Record<string, unknown>
  if (permit.version !== PORTABLE_PERMIT_VERSION) fail('version', permit.version, `${PORTABLE_PERMIT_VERSION}`)
  if (typeof permit.circuitId !== 'string' || permit.circuitId === '')
    fail('circuitId', permit.circuitId, 'a circuit id')
  if (circuitId !== undefined && permit.circuitId !== circuitId) {
    fail('circuitId', permit.circuitId, `"${circuitId}" (a permit settles only the circuit that issued it)`)
  }
  const modes: readonly unknown[] = Object.values(PermitMode)
  if (!modes.includes(permit.mode)) fail('mode', permit.mode, `one of ${modes.map((mode) => `"${mode}"`).join(', ')}`)
  if (permit.incarnation !== '' && !isOpId(permit.incarnation)) {
    fail('incarnation', permit.incarnation, 'an op id or ""')
  }
  for (const field of ['generation', 'openCount'] as const) {
    const number = permit[field]
    if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
      fail(field, number, 'a whole number of 0 or more')
    }
  }
  const probe = permit.mode === PermitMode.PROBE
  if (probe ? !isOpId(permit.token) : permit.token !== '') {
    fail('token', permit.token, probe ? "the probe lease's token" : '"" (only a probe has a token)')
  }
  if (permit.settleId !== undefined && !isOpId(permit.settleId)) fail('settleId', permit.settleId, 'an op id')
  return {
    version: PORTABLE_PERMIT_VERSION,
    circuitId: permit.circuitId as string,
    mode: permit.mode as PermitMode,
    incarnation: permit.incarnation as string,
    generation: permit.generation as number,
    openCount: permit.openCount as number,
    token: permit.token as string,
    ...(permit.settleId === undefined ? {} : { settleId: permit.settleId as string }),
  }
}

/** The permit state a checked portable permit stands for; its call's signal is not carried. */
export function permitStateOf(permit: PortablePermit): PermitState {
  const { mode, incarnation, generation, openCount, token, settleId } = permit
  return {
    mode,
    incarnation,
    generation,
    openCount,
    token,
    signal: undefined,
    ...(settleId === undefined ? {} : { settleId }),
  }
}

function isPermitHandle(value: unknown): value is PermitHandle {
  return (
    typeof value === 'object' &&
    value !== null &&
    'state' in value &&
    typeof Reflect.get(value, 'handOff') === 'function'
  )
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}
