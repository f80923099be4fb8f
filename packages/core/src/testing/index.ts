export { ManualClock } from './clock.js'
export {
  type ConformanceCase,
  type ConformanceHarness,
  storeConformanceCases,
  storeConformanceTimeoutMs,
} from './conformance.js'
export { InstrumentedStore, type StoreFault, type StoreOperation } from './instrumented-store.js'
