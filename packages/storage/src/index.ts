export {
  closeStoresFromEnvironment,
  createStoreFromEnvironment,
  redisUrlFromEnvironment,
  STORE_ENVIRONMENT_VARIABLES,
  type StoreFromEnvironmentOptions,
  StoreKind,
} from './from-environment.js'
