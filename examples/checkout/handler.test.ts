import { closeStoresFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { type LocalDynamoDB, startDynalite } from '../../test-support/dynalite.js'
import { type HttpDownstream, startHttpDownstream } from '../../test-support/http-downstream.js'
import { useLocalDynamoDB } from '../../test-support/lambda-environment.js'

let dynamo: LocalDynamoDB
let payments: HttpDownstream
let inventory: HttpDownstream
let restoreEnvironment: () => void
let handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable('checkout-breakers')
  payments = await startHttpDownstream()
  inventory = await startHttpDownstream()
  restoreEnvironment = useLocalDynamoDB(dynamo, 'checkout-breakers', {
    PAYMENT_API_URL: payments.url,
    INVENTORY_API_URL: inventory.url,
  })
  ;({ handler } = await import('./handler.js'))
})

afterAll(async () => {
  await closeStoresFromEnvironment()
  restoreEnvironment()
  await Promise.all([payments.stop(), inventory.stop()])
  await dynamo.stop()
})

const context = { getRemainingTimeInMillis: () => 10_000 } as Context
let orders = 0
const order = () =>
  ({
    version: '2.0',
    routeKey: 'POST /checkout',
    rawPath: '/checkout',
    body: JSON.stringify({ orderId: `o-${++orders}`, sku: 'book', amount: 12 }),
    requestContext: { http: { method: 'POST', path: '/checkout' } },
  }) as unknown as APIGatewayProxyEventV2

describe('the checkout example: one breaker per downstream', () => {
  it('reserves and charges while both downstreams are healthy', async () => {
    const response = await handler(order(), context)
    expect(response.statusCode).toBe(201)
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ status: 'paid' })
  })

  it('keeps taking orders, as payment pending, once the payment circuit opens', async () => {
    payments.status = 503
    for (let i = 0; i < 5; i++) expect((await handler(order(), context)).statusCode).toBe(500)
    const chargesBefore = payments.total
    const response = await handler(order(), context)
    expect(response.statusCode).toBe(202)
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ status: 'payment-pending' })
    expect(payments.total).toBe(chargesBefore)
    expect(inventory.requests.get('/reservations')).toBe(7) // inventory's circuit stayed closed
  })

  it('pauses ordering with a Retry-After once the inventory circuit opens', async () => {
    inventory.status = 500
    for (let i = 0; i < 5; i++) expect((await handler(order(), context)).statusCode).toBe(500)
    const response = await handler(order(), context)
    expect(response.statusCode).toBe(503)
    expect(response.headers?.['Retry-After']).toBe('10')
  })
})
