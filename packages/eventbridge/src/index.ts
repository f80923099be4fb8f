export {
  type CircuitStateChangeDetail,
  DEFAULT_SOURCE,
  detailOf,
  STATE_CHANGE_DETAIL_TYPE,
} from './event.js'
export {
  type EventBridgeClientLike,
  EventBridgePublisher,
  type EventBridgePublisherOptions,
  entrySize,
  MAX_ENTRIES_PER_REQUEST,
  MAX_REQUEST_BYTES,
} from './publisher.js'
