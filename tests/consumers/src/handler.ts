/**
 * A Lambda handler as a user writes it, in the form that bundles to CommonJS (AWS CDK's
 * `NodejsFunction` default) as well as to ESM: no top-level await; the store and the breaker are
 * created on the first invocation and memoised for the environment's life.
 */
import { CircuitBreaker, isCircuitOpenError, MemoryStore } from '@fleet-breaker/core'
import { circuitBreaker } from '@fleet-breaker/middy'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'
import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'

let paymentBreaker: Promise<CircuitBreaker> | undefined

/** The breaker, created once per execution environment; a failed creation is retried next time. */
export function getPaymentBreaker(): Promise<CircuitBreaker> {
  paymentBreaker ??= createStoreFromEnvironment()
    .then((store) => new CircuitBreaker({ circuitId: 'payment-api', store, failureThreshold: 1 }))
    .catch((error: unknown) => {
      paymentBreaker = undefined
      throw error
    })
  return paymentBreaker
}

export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> {
  const breaker = await getPaymentBreaker()
  try {
    const body = await breaker.execute(async () => {
      if (event.rawPath === '/fail') throw Object.assign(new Error('payment service down'), { statusCode: 503 })
      return 'paid'
    })
    return { statusCode: 200, body }
  } catch (error) {
    if (isCircuitOpenError(error)) return { statusCode: 503, body: 'circuit open' }
    return { statusCode: 502, body: 'payment failed' }
  }
}

/** With Middy: the breaker's store is created synchronously, so the chain is built at module scope. */
const quoteBreaker = new CircuitBreaker({ circuitId: 'quote-api', store: new MemoryStore(), failureThreshold: 1 })

export const quoteHandler = middy(async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> => {
  if (event.rawPath === '/fail') throw Object.assign(new Error('quote service down'), { statusCode: 503 })
  return { statusCode: 200, body: 'quote' }
}).use(circuitBreaker({ breaker: quoteBreaker }))
