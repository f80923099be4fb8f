import { type CircuitBreakerError, type CircuitOpenDetails, CircuitOpenError } from './errors.js'
import type { PermitState } from './permit.js'

/*
 * What deciding a call produces: the decision handed to the caller, and the ruling a record alone
 * makes, whose refusal is not yet an error.
 */

/** The answer to "may this call go ahead?", before the concurrency slot is accounted for. */
export type Decision = Admitted | { readonly admitted: false; readonly error: CircuitBreakerError }

export type Admitted = { readonly admitted: true; readonly permit: PermitState }

/**
 * A call an open circuit turns away: what its {@link CircuitOpenError} will say. The error is made
 * where the call is answered, not where it is decided: V8 records the stack of every frame between
 * the two, and during an outage every invocation takes this path.
 */
export type Refusal = { readonly admitted: false; readonly refusal: CircuitOpenDetails }

/** A decision made from a record alone: the permit, or the refusal. */
export type Ruling = Admitted | Refusal

/** A refusal saying `details`. */
export function refused(details: CircuitOpenDetails): Refusal {
  return { admitted: false, refusal: details }
}

/** The decision a ruling makes: a refusal becomes its `CircuitOpenError`. */
export function decided(ruling: Ruling): Decision {
  return ruling.admitted ? ruling : { admitted: false, error: new CircuitOpenError(ruling.refusal) }
}
