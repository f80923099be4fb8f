export {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  type DynamoDBClientSettings,
  type RedisClientConfig,
  redisUrlFromEnvironment,
  STORE_ENVIRONMENT_VARIABLES,
  type StoreFromEnvironmentOptions,
  StoreKind,
} from './from-environment.js'
