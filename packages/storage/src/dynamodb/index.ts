export {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_CLIENT_CONFIG,
  DEFAULT_TTL_SECONDS,
  type DynamoDBCommandSender,
  type DynamoDBStoreOptions,
  type SortKey,
} from './options.js'
export { DynamoDBStore } from './store.js'
export { type CircuitTableOptions, circuitTableDefinition, circuitTableTimeToLive } from './table.js'
