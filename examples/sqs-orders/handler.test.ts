import { closeStoresFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda'
import { type LocalDynamoDB, startDynalite } from '../../test-support/dynalite.js'
import { type HttpDownstream, startHttpDownstream } from '../../test-support/http-downstream.js'
import { useLocalDynamoDB } from '../../test-support/lambda-environment.js'

let dynamo: LocalDynamoDB
let fulfilment: HttpDownstream
let restoreEnvironment: () => void
let handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable('orders-breakers')
  fulfilment = await startHttpDownstream()
  restoreEnvironment = useLocalDynamoDB(dynamo, 'orders-breakers', { FULFILMENT_API_URL: fulfilment.url })
  ;({ handler } = await import('./handler.js'))
})

afterAll(async () => {
  await closeStoresFromEnvironment()
  restoreEnvironment()
  await fulfilment.stop()
  await dynamo.stop()
})

const context = { getRemainingTimeInMillis: () => 30_000 } as Context
let messages = 0
const batch = (size: number) =>
  ({
    Records: Array.from({ length: size }, () => ({
      messageId: `m-${++messages}`,
      eventSource: 'aws:sqs',
      body: JSON.stringify({ orderId: messages }),
    })),
  }) as unknown as SQSEvent

describe('the SQS consumer example', () => {
  it('forwards a batch and reports no failures while fulfilment is healthy', async () => {
    expect(await handler(batch(3), context)).toEqual({ batchItemFailures: [] })
    expect(fulfilment.requests.get('/orders')).toBe(3)
  })

  it('returns failed messages to the queue, and once open, every message without calling', async () => {
    fulfilment.status = 503
    for (let i = 0; i < 3; i++) {
      const failed = batch(2)
      expect((await handler(failed, context)).batchItemFailures).toHaveLength(2)
    }
    const callsBefore = fulfilment.total
    const held = batch(4)
    const response = await handler(held, context)
    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier)).toEqual(
      held.Records.map((record) => record.messageId),
    )
    expect(fulfilment.total).toBe(callsBefore)
  })
})
