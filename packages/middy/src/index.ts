export { EventSource, eventSourceOf, rejectionResponse, retryAfterSeconds } from './event-sources.js'
export {
  type CircuitBreakerMiddlewareOptions,
  circuitBreaker,
  isServerErrorResponse,
  settleCircuitBreakerPermits,
} from './middleware.js'
export type { LambdaContextLike, MiddyHook, MiddyMiddleware, MiddyRequest } from './middy-types.js'
