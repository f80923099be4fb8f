import { GetItemCommand } from '@aws-sdk/client-dynamodb'
import { closeStoresFromEnvironment } from '@fleet-breaker/storage'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { type LocalDynamoDB, startDynalite } from '../../test-support/dynalite.js'
import { type HttpDownstream, startHttpDownstream } from '../../test-support/http-downstream.js'
import { useLocalDynamoDB } from '../../test-support/lambda-environment.js'

let dynamo: LocalDynamoDB
let quotes: HttpDownstream
let restoreEnvironment: () => void
let handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

beforeAll(async () => {
  dynamo = await startDynalite()
  await dynamo.createTable('quote-breakers')
  quotes = await startHttpDownstream()
  restoreEnvironment = useLocalDynamoDB(dynamo, 'quote-breakers', { QUOTE_API_URL: quotes.url })
  ;({ handler } = await import('./handler.js'))
})

afterAll(async () => {
  await closeStoresFromEnvironment()
  restoreEnvironment()
  await quotes.stop()
  await dynamo.stop()
})

const context = { getRemainingTimeInMillis: () => 10_000 } as Context
const request = (symbol: string) =>
  ({
    version: '2.0',
    routeKey: 'GET /quotes/{symbol}',
    rawPath: `/quotes/${symbol}`,
    pathParameters: { symbol },
    requestContext: { http: { method: 'GET', path: `/quotes/${symbol}` } },
  }) as unknown as APIGatewayProxyEventV2

describe('the quote API example', () => {
  it('serves live quotes while the quote service is healthy', async () => {
    const response = await handler(request('AMZN'), context)
    expect(response.statusCode).toBe(200)
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ symbol: 'AMZN', stale: false })
  })

  it('opens the shared circuit after five failures and then serves the cached quote without calling', async () => {
    quotes.status = 503
    for (let i = 0; i < 5; i++) expect((await handler(request('AMZN'), context)).statusCode).toBe(502)
    const callsBefore = quotes.total
    const response = await handler(request('AMZN'), context)
    expect(quotes.total).toBe(callsBefore)
    expect(response.statusCode).toBe(200)
    expect(response.headers?.['Retry-After']).toBe('30')
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({
      symbol: 'AMZN',
      stale: true,
      quote: { path: '/quotes/AMZN' },
    })
    const { Item } = await dynamo
      .client()
      .send(new GetItemCommand({ TableName: 'quote-breakers', Key: { id: { S: 'quote-api' } } }))
    expect(Item?.state).toEqual({ S: 'OPEN' })
  })
})
