/**
 * A checkout handler calling two downstreams, each behind its own breaker from a registry. When
 * payments are down the order is still taken, as "payment pending"; when inventory is down the
 * order cannot be taken and the caller is told when to retry.
 *
 * Configuration: CIRCUIT_BREAKER_TABLE, PAYMENT_API_URL, INVENTORY_API_URL.
 */
import { Metrics } from '@aws-lambda-powertools/metrics'
import { BreakerRegistry, isCircuitOpenError } from '@fleet-breaker/core'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'
import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda'

type Event = APIGatewayProxyEventV2
type Result = APIGatewayProxyStructuredResultV2

// The breaker's metrics (CircuitOpened and the rest, in EMF): the namespace and service the alarms
// of ../sam/template.yaml watch.
const metrics = new Metrics({ namespace: 'fleet-breaker-examples', serviceName: 'fleet-breaker-examples' })

const breakers = new BreakerRegistry({
  store: await createStoreFromEnvironment(),
  metrics,
  failureThreshold: 5,
  downstreams: {
    payment: { callTimeoutMs: 3_000, resetTimeoutMs: 20_000 },
    inventory: { callTimeoutMs: 1_000 },
  },
})

const paymentApiUrl = process.env.PAYMENT_API_URL ?? 'http://127.0.0.1:8081'
const inventoryApiUrl = process.env.INVENTORY_API_URL ?? 'http://127.0.0.1:8082'

interface Order {
  readonly orderId: string
  readonly sku: string
  readonly amount: number
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Result {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) }
}

/** POSTs JSON; a failure status is thrown with its status, so the breaker can tell 4xx from 5xx. */
async function post(url: string, body: unknown, signal: AbortSignal): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  })
  if (!response.ok)
    throw Object.assign(new Error(`${url} answered ${response.status}`), { statusCode: response.status })
  return response.json()
}

async function checkout(event: Event): Promise<Result> {
  const order = JSON.parse(event.body ?? '{}') as Order
  try {
    await breakers.get('inventory').execute((signal) => post(`${inventoryApiUrl}/reservations`, order, signal))
  } catch (error) {
    if (isCircuitOpenError(error)) {
      const seconds = Math.max(1, Math.ceil(error.retryAfterMs / 1_000))
      return json(503, { message: 'ordering is paused, try again shortly' }, { 'Retry-After': String(seconds) })
    }
    throw error
  }
  try {
    const payment = await breakers.get('payment').execute((signal) => post(`${paymentApiUrl}/charges`, order, signal))
    return json(201, { orderId: order.orderId, status: 'paid', payment })
  } catch (error) {
    // The order is reserved; a payment outage must not lose it. Charge later from a queue.
    if (isCircuitOpenError(error)) return json(202, { orderId: order.orderId, status: 'payment-pending' })
    throw error
  }
}

export const handler = middy<Event, Result>(checkout).use(httpErrorHandler({ logger: false }))
