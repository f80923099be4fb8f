import { MAX_CIRCUIT_ID_LENGTH } from '@fleet-breaker/core'
import { InvalidTaskInputError } from '../errors.js'

/** The task's input as an object, or an {@link InvalidTaskInputError}. */
export function inputObject(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidTaskInputError({ field: '(input)', value: input, expected: 'an object' })
  }
  return input as Record<string, unknown>
}

/** `input.circuitId`, checked, and one of `allowed` when the handler names its circuits. */
export function circuitIdOf(input: Record<string, unknown>, allowed: ReadonlySet<string> | undefined): string {
  const { circuitId } = input
  if (typeof circuitId !== 'string' || circuitId.trim() === '' || circuitId.length > MAX_CIRCUIT_ID_LENGTH) {
    throw new InvalidTaskInputError({
      field: 'circuitId',
      value: circuitId,
      expected: `a non-blank string of at most ${MAX_CIRCUIT_ID_LENGTH} characters`,
    })
  }
  if (allowed !== undefined && !allowed.has(circuitId)) {
    const known = [...allowed].map((id) => JSON.stringify(id)).join(', ')
    throw new InvalidTaskInputError({ field: 'circuitId', value: circuitId, expected: `one of ${known}` })
  }
  return circuitId
}
