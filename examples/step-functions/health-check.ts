/*
 * The scheduled health checker of the SAM template: every minute it probes the payment API's
 * circuit when it is due, so the fleet (with `liveProbes: false`) never uses a customer's request
 * as the probe.
 */
import { healthCheckHandler } from '@fleet-breaker/lambda'
import { DynamoDBStore } from '@fleet-breaker/storage/dynamodb'

export const handler = healthCheckHandler({
  store: new DynamoDBStore({ tableName: process.env.CIRCUIT_BREAKER_TABLE ?? 'circuit-breakers' }),
  targets: [
    {
      circuitId: 'payment-api',
      check: { url: `${process.env.PAYMENT_API_URL}/health`, expectedStatus: 200, timeoutMs: 3_000 },
      openAfter: 3,
    },
  ],
})
