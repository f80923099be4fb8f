/*
 * ioredis and node-redis are development dependencies of @fleet-breaker/storage, not of the
 * workspace root, so a test under test-support/ cannot import them by name; it takes them from the
 * storage package's node_modules (pnpm links them there).
 */
export { Cluster, Redis, type RedisOptions } from '../../packages/storage/node_modules/ioredis/built/index.js'
export { createCluster } from '../../packages/storage/node_modules/redis/dist/index.js'
