/*
 * The alarm handler of the SAM template: the payment API's error alarm forces its circuit open
 * fleet-wide, and its return to OK clears that override (never an operator's).
 */
import { alarmHandler } from '@fleet-breaker/lambda'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'

export const handler = alarmHandler({
  store: new DynamoDBStore({ tableName: process.env.CIRCUIT_BREAKER_TABLE ?? 'circuit-breakers' }),
  circuits: { [process.env.PAYMENT_ERRORS_ALARM ?? 'payment-api-errors']: ['payment-api'] },
})
