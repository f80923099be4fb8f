/**
 * An HTTP API handler whose whole job depends on one downstream (a quote service), protected by
 * the Middy middleware. While the quote service is down for the fleet, callers get the last
 * cached quote straight away instead of waiting on a dead dependency.
 *
 * Configuration (see ../sam/template.yaml): CIRCUIT_BREAKER_TABLE, QUOTE_API_URL.
 */
import { Metrics } from '@aws-lambda-powertools/metrics'
import { CircuitBreaker } from '@fleet-breaker/core'
import { circuitBreaker, retryAfterSeconds } from '@fleet-breaker/middy'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'
import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda'

type Event = APIGatewayProxyEventV2
type Result = APIGatewayProxyStructuredResultV2

// Once per execution environment: the store's client and the breaker's cache live between invocations.
// The breaker's metrics (CircuitOpened and the rest, in EMF): the namespace and service the alarms
// of ../sam/template.yaml watch.
const metrics = new Metrics({ namespace: 'fleet-breaker-examples', serviceName: 'fleet-breaker-examples' })

const breaker = new CircuitBreaker({
  circuitId: 'quote-api',
  metrics,
  store: await createStoreFromEnvironment(),
  failureThreshold: 5,
  resetTimeoutMs: 30_000,
})

const quoteApiUrl = process.env.QUOTE_API_URL ?? 'http://127.0.0.1:8080'
const lastQuotes = new Map<string, unknown>()

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Result {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) }
}

async function getQuote(event: Event): Promise<Result> {
  const symbol = event.pathParameters?.symbol ?? 'AMZN'
  const response = await fetch(`${quoteApiUrl}/quotes/${encodeURIComponent(symbol)}`, {
    signal: AbortSignal.timeout(2_000),
  })
  // A 5xx from the quote service becomes our 502, which the middleware counts as a failure.
  if (response.status >= 500) return json(502, { message: 'quote service unavailable' })
  if (!response.ok) return json(response.status, { message: 'no such symbol' })
  const quote: unknown = await response.json()
  lastQuotes.set(symbol, quote)
  return json(200, { symbol, quote, stale: false })
}

export const handler = middy<Event, Result>(getQuote)
  .use(httpErrorHandler({ logger: false }))
  .use(
    circuitBreaker<Event, Result>({
      breaker,
      // While the circuit is open: the last quote this environment saw, marked stale.
      fallback: (error, { request }) => {
        const symbol = request.event.pathParameters?.symbol ?? 'AMZN'
        const headers = { 'Retry-After': String(retryAfterSeconds(error)) }
        return json(200, { symbol, quote: lastQuotes.get(symbol) ?? null, stale: true }, headers)
      },
    }),
  )
