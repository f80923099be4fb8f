/**
 * An SQS consumer that forwards orders to a fulfilment service. Failed messages are reported as
 * batch item failures; a batch with failures counts as one failure of the service. While the
 * circuit is open, the middleware reports the whole batch as failed without calling anything, so
 * the messages wait in the queue (the event source mapping has ReportBatchItemFailures on).
 *
 * Configuration: CIRCUIT_BREAKER_TABLE, FULFILMENT_API_URL.
 */
import { Metrics } from '@aws-lambda-powertools/metrics'
import { CircuitBreaker } from '@fleet-breaker/core'
import { circuitBreaker } from '@fleet-breaker/middy'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'
import middy from '@middy/core'
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda'

// The breaker's metrics (CircuitOpened and the rest, in EMF): the namespace and service the alarms
// of ../sam/template.yaml watch.
const metrics = new Metrics({ namespace: 'fleet-breaker-examples', serviceName: 'fleet-breaker-examples' })

const breaker = new CircuitBreaker({
  circuitId: 'fulfilment-api',
  metrics,
  store: await createStoreFromEnvironment(),
  failureThreshold: 3,
  resetTimeoutMs: 60_000,
})

const fulfilmentApiUrl = process.env.FULFILMENT_API_URL ?? 'http://127.0.0.1:8083'

async function forwardOrders(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = []
  for (const record of event.Records) {
    try {
      const response = await fetch(`${fulfilmentApiUrl}/orders`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: record.body,
        signal: AbortSignal.timeout(2_000),
      })
      if (!response.ok) batchItemFailures.push({ itemIdentifier: record.messageId })
    } catch {
      batchItemFailures.push({ itemIdentifier: record.messageId })
    }
  }
  return { batchItemFailures }
}

export const handler = middy<SQSEvent, SQSBatchResponse>(forwardOrders).use(
  circuitBreaker<SQSEvent, SQSBatchResponse>({
    breaker,
    isFailureResult: (response) => response.batchItemFailures.length > 0,
  }),
)
