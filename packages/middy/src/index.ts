export {
  EventSource,
  eventSourceOf,
  isHttpEvent,
  rejectionResponse,
  retryAfterSeconds,
  type UnavailableHttpError,
  unavailableHttpError,
} from './event-sources.js'
export {
  type CircuitBreakerMiddlewareOptions,
  circuitBreaker,
  isServerErrorResponse,
  type MiddlewareBreakerOptions,
  type MiddyFallbackContext,
  settleCircuitBreakerPermits,
} from './middleware.js'
export type { LambdaContextLike, MiddyHook, MiddyMiddleware, MiddyRequest } from './middy-types.js'
