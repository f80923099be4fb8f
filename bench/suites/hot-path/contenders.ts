import { CircuitBreaker, type Logger, MemoryStore } from '@fleet-breaker/core'
import { ConsecutiveBreaker, circuitBreaker, handleAll, TimeoutStrategy, timeout, wrap } from 'cockatiel'
import Opossum from 'opossum'

/**
 * Which library a contender measures. `bare` is the call with nothing around it; `reference` is
 * the bare call plus one `new AbortController()`, the floor of any timeout path that hands each
 * call its own abort signal.
 */
export type Library = 'bare' | 'reference' | 'fleet-breaker' | 'cockatiel' | 'opossum'

/** One way of making the same call, measured against the others. */
export interface Contender {
  readonly id: string
  readonly label: string
  readonly library: Library
  /** Whether the call runs under a 1 s call timeout. */
  readonly withTimeout: boolean
  /** Makes one call; resolves with the function's value. */
  readonly call: () => Promise<number>
  /** Stops anything the library keeps running (opossum's statistics interval). */
  readonly close: () => void
}

/** What every contender calls: it resolves at once, so only the wrapping is measured. */
export const CALL_VALUE = 1
const downstream = async (): Promise<number> => CALL_VALUE
/** The same, reading the signal it is given, so the reference's controller is used. */
const downstreamWithSignal = async (signal: AbortSignal): Promise<number> => (signal.aborted ? 0 : CALL_VALUE)

/** Long enough never to fire: the timeout paths measure the cost of arming and clearing a timer. */
const CALL_TIMEOUT_MS = 1_000

const quietLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
const nothingToClose = (): void => {}

function fleetBreaker(id: string, callTimeoutMs?: number): CircuitBreaker {
  // Defaults otherwise: the local cache on (5 s), concurrency limit 10, no fallback.
  return new CircuitBreaker({
    circuitId: id,
    store: new MemoryStore(),
    logger: quietLogger,
    ...(callTimeoutMs === undefined ? {} : { callTimeoutMs }),
  })
}

function cockatielBreaker() {
  return circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) })
}

/** Every contender, each with its own breaker and (for fleet-breaker) its own store. */
export function createContenders(): Contender[] {
  const fleet = fleetBreaker('hot-path')
  const fleetTimeout = fleetBreaker('hot-path-timeout', CALL_TIMEOUT_MS)
  const cockatiel = cockatielBreaker()
  const cockatielTimeout = wrap(timeout(CALL_TIMEOUT_MS, TimeoutStrategy.Cooperative), cockatielBreaker())
  const opossum = new Opossum(downstream, { timeout: false })
  const opossumTimeout = new Opossum(downstream, { timeout: CALL_TIMEOUT_MS })
  return [
    {
      id: 'bare',
      label: 'bare async call',
      library: 'bare',
      withTimeout: false,
      call: downstream,
      close: nothingToClose,
    },
    {
      id: 'fleet-breaker',
      label: 'fleet-breaker `execute`',
      library: 'fleet-breaker',
      withTimeout: false,
      call: () => fleet.execute(downstream),
      close: nothingToClose,
    },
    {
      id: 'cockatiel',
      label: 'cockatiel `circuitBreaker`',
      library: 'cockatiel',
      withTimeout: false,
      call: () => cockatiel.execute(downstream),
      close: nothingToClose,
    },
    {
      id: 'opossum',
      label: 'opossum `fire`',
      library: 'opossum',
      withTimeout: false,
      call: () => opossum.fire(),
      close: () => opossum.shutdown(),
    },
    {
      id: 'abort-controller',
      label: 'bare call + `new AbortController()` (reference)',
      library: 'reference',
      withTimeout: true,
      call: () => downstreamWithSignal(new AbortController().signal),
      close: nothingToClose,
    },
    {
      id: 'fleet-breaker-timeout',
      label: 'fleet-breaker, `callTimeoutMs: 1000`',
      library: 'fleet-breaker',
      withTimeout: true,
      call: () => fleetTimeout.execute(downstream),
      close: nothingToClose,
    },
    {
      id: 'cockatiel-timeout',
      label: 'cockatiel, `timeout(1000)` + breaker',
      library: 'cockatiel',
      withTimeout: true,
      call: () => cockatielTimeout.execute(downstream),
      close: nothingToClose,
    },
    {
      id: 'opossum-timeout',
      label: 'opossum, `timeout: 1000`',
      library: 'opossum',
      withTimeout: true,
      call: () => opossumTimeout.fire(),
      close: () => opossumTimeout.shutdown(),
    },
  ]
}
