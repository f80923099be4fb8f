export {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  type RedisClientConfig,
  redisUrlFromEnvironment,
  STORE_ENVIRONMENT_VARIABLES,
  type StoreFromEnvironmentOptions,
  StoreKind,
} from './from-environment.js'
