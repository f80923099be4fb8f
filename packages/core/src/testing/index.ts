export { ManualClock } from './clock.js'
export { type ConformanceCase, type ConformanceHarness, storeConformanceCases } from './conformance.js'
export { InstrumentedStore, type StoreFault, type StoreOperation } from './instrumented-store.js'
