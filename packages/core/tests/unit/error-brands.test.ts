import {
  CircuitBreakerError,
  CircuitBreakerErrorName,
  CircuitOpenError,
  isCircuitBreakerError,
  isCircuitOpenError,
  isConcurrencyLimitError,
  RejectionReason,
} from '@fleet-breaker/core'
import { describe, expect, it } from '@jest/globals'

const details = { circuitId: 'payment-api', state: 'OPEN', reason: RejectionReason.OPEN, retryAfterMs: 1_000 } as const

/** What a second copy of the package makes: the same brand symbol on classes of its own. */
function errorOfAnotherCopy(name: string): Error {
  const error = new Error('from another copy')
  Object.defineProperty(error, Symbol.for('fleet-breaker.error'), { value: name })
  return error
}

describe('error brands', () => {
  it('recognise each kind by its brand, not by its class', () => {
    const open = new CircuitOpenError(details)
    expect(isCircuitOpenError(open)).toBe(true)
    expect(isCircuitBreakerError(open)).toBe(true)
    expect(isConcurrencyLimitError(open)).toBe(false)
    expect(open.name).toBe('CircuitOpenError')
    expect(isCircuitOpenError(errorOfAnotherCopy(CircuitBreakerErrorName.CIRCUIT_OPEN))).toBe(true)
    expect(isCircuitOpenError(new Error('plain'))).toBe(false)
  })

  it("recognise a user's subclass as the kind it extends", () => {
    class PaymentsDown extends CircuitOpenError {}
    expect(isCircuitOpenError(new PaymentsDown(details))).toBe(true)
  })

  it('let a subclass take another kind with brand(), as documented', () => {
    class OpenAsWell extends CircuitBreakerError {
      constructor() {
        super('open, in effect', { circuitId: 'payment-api' })
        this.brand(CircuitBreakerErrorName.CIRCUIT_OPEN)
      }
    }
    const error = new OpenAsWell()
    expect(error.name).toBe('CircuitOpenError')
    expect(isCircuitOpenError(error)).toBe(true)
  })

  it('make a CircuitOpenError a CircuitBreakerError in every way a caller checks', () => {
    const open = new CircuitOpenError(details)
    expect(open).toBeInstanceOf(CircuitOpenError)
    expect(open).toBeInstanceOf(CircuitBreakerError)
    expect(open).toBeInstanceOf(Error)
    expect(open.circuitId).toBe('payment-api')
    expect(open.message).toBe('Circuit "payment-api" is OPEN (open); retry after 1000 ms')
    expect(Object.hasOwn(open, 'cause')).toBe(false)
    expect(String(open.stack)).toMatch(/^CircuitOpenError: Circuit "payment-api" is OPEN/)
  })

  it('leave the name an own property, so an error serialised as JSON still says what it is', () => {
    const open = new CircuitOpenError(details)
    expect(JSON.parse(JSON.stringify(open))).toMatchObject({ name: 'CircuitOpenError', reason: 'open' })
    // Logs and snapshots list what the error is about first.
    expect(Object.keys(open).slice(0, 3)).toEqual(['circuitId', 'name', 'state'])
  })
})
