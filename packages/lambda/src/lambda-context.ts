/**
 * The part of the Lambda context the handlers read: the invocation's remaining time. A real
 * `Context` from `aws-lambda` fits it.
 */
export interface RemainingTime {
  getRemainingTimeInMillis(): number
}
