export type { IoRedisClientLike, NodeRedisClientLike, RedisClientLike } from './client.js'
export { type ClientWithEvents, type RouteClientErrorsOptions, routeRedisClientErrors } from './client-errors.js'
export { RedisStore, type RedisStoreOptions } from './redis-store.js'
