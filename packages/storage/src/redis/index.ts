export type { IoRedisClientLike, NodeRedisClientLike, RedisClientLike } from './client.js'
export { RedisStore, type RedisStoreOptions } from './redis-store.js'
