import { isInvalidConfigurationError, type Logger, resolveOptions } from '@fleet-breaker/core'
import { type ExtensionConfig, readExtensionConfig } from './config.js'
import { ExtensionsApiClient, ExtensionsApiError, LifecycleEventType } from './extensions-api.js'
import { ApiServer } from './http/server.js'
import { extensionLogger } from './log.js'
import { CircuitService } from './service.js'
import { type ExtensionStore, extensionStoreFromEnvironment } from './store.js'

/** The extension's file name in the layer (`/opt/extensions/fleet-breaker`), which Lambda requires at registration. */
export const EXTENSION_NAME = 'fleet-breaker'

/** Kept back from SHUTDOWN's deadline, so the process exits before Lambda kills it. */
const SHUTDOWN_MARGIN_MS = 100

/** Options of {@link runExtension}. */
export interface RunExtensionOptions {
  /** Where configuration comes from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The name to register under. Default {@link EXTENSION_NAME}. */
  readonly name?: string
  /** Milliseconds since the process started, for the start-to-registered figure. Default `performance.now()`. */
  readonly sinceStart?: () => number
  /** Called once the HTTP server listens and the extension is registered. */
  readonly onRegistered?: (info: { port: number; startToRegisteredMs: number }) => void
}

/** The Lambda error types the extension reports to `init/error` and `exit/error`. */
export const ExtensionErrorType = {
  CONFIGURATION: 'Extension.ConfigurationError',
  START_FAILED: 'Extension.StartFailed',
  LIFECYCLE: 'Extension.LifecycleError',
} as const

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

/**
 * Runs the extension's whole life: binds the HTTP API on 127.0.0.1, registers with the Extensions
 * API for INVOKE and SHUTDOWN, follows invocations (releasing what each leaves unsettled) and, on
 * SHUTDOWN, releases every outstanding permit and closes the store's connections within the
 * shutdown deadline. Resolves with the process's exit code.
 *
 * A configuration error is reported to Lambda through `init/error`, which fails the environment's
 * init with the message (the function's logs show it), rather than serving a breaker configured
 * differently from what was asked.
 *
 * @example
 * ```ts
 * import { runExtension } from '@fleet-breaker/extension'
 *
 * process.exitCode = await runExtension()
 * ```
 */
export async function runExtension(options: RunExtensionOptions = {}): Promise<number> {
  const env = options.env ?? process.env
  const sinceStart = options.sinceStart ?? (() => performance.now())
  const bootLogger = extensionLogger('info')
  const runtimeApi = env.AWS_LAMBDA_RUNTIME_API
  if (runtimeApi === undefined || runtimeApi === '') {
    bootLogger.error('AWS_LAMBDA_RUNTIME_API is not set: the extension runs only inside a Lambda execution environment')
    return 1
  }
  const api = new ExtensionsApiClient(runtimeApi)
  let started: Started
  try {
    started = await start(env)
  } catch (error) {
    const type = isInvalidConfigurationError(error) ? ExtensionErrorType.CONFIGURATION : ExtensionErrorType.START_FAILED
    bootLogger.error('the extension could not start', { error: asError(error), errorType: type })
    try {
      await api.register(options.name ?? EXTENSION_NAME)
      await api.initError(type, asError(error))
    } catch (reportError) {
      bootLogger.error('could not report the failure to the Extensions API', { error: asError(reportError) })
    }
    api.close()
    return 1
  }
  const { logger, server, service, store, port } = started
  try {
    await register(api, options.name ?? EXTENSION_NAME, started)
  } catch (error) {
    logger.error('registration with the Extensions API failed', { error: asError(error) })
    server.destroy()
    await server.close()
    await store.close()
    api.close()
    return 1
  }
  service.ledger.startSweeping()
  const startToRegisteredMs = Math.round(sinceStart() * 10) / 10
  logger.info('registered', { port, startToRegisteredMs, store: store.kind })
  options.onRegistered?.({ port, startToRegisteredMs })

  for (;;) {
    let event: Awaited<ReturnType<ExtensionsApiClient['next']>>
    try {
      event = await api.next()
    } catch (error) {
      logger.error('the Extensions API failed; exiting', { error: asError(error) })
      try {
        await api.exitError(ExtensionErrorType.LIFECYCLE, asError(error))
      } catch {
        // The API is gone; nothing more to tell it.
      }
      await shutDown(started, Date.now() + 1_000)
      api.close()
      return 1
    }
    if (event.eventType === LifecycleEventType.INVOKE) {
      service.ledger.beginInvocation(event.requestId, event.deadlineMs)
      continue
    }
    logger.debug('shutdown', { reason: event.shutdownReason, deadlineMs: event.deadlineMs })
    await shutDown(started, event.deadlineMs - SHUTDOWN_MARGIN_MS)
    api.close()
    return 0
  }
}

/**
 * Registers for INVOKE and SHUTDOWN. An environment running several invocations at once that
 * refuses INVOKE subscriptions gets a SHUTDOWN-only registration: the permits then end at their
 * TTL, which beats failing the environment's init.
 */
async function register(api: ExtensionsApiClient, name: string, started: Started): Promise<void> {
  try {
    await api.register(name)
  } catch (error) {
    const refused = error instanceof ExtensionsApiError && error.status !== undefined && error.status < 500
    if (!refused || started.config.maxConcurrency <= 1) throw error
    started.logger.warn(
      'INVOKE events refused; registered for SHUTDOWN only, unsettled permits lapse after their TTL',
      {
        error: asError(error),
      },
    )
    await api.register(name, [LifecycleEventType.SHUTDOWN])
  }
}

interface Started {
  readonly config: ExtensionConfig
  readonly logger: Logger
  readonly store: ExtensionStore
  readonly service: CircuitService
  readonly server: ApiServer
  readonly port: number
  shuttingDown: boolean
}

async function start(env: Readonly<Record<string, string | undefined>>): Promise<Started> {
  const config = readExtensionConfig(env)
  const logger = extensionLogger(config.logLevel)
  const store = await extensionStoreFromEnvironment(env, logger)
  try {
    // Every CIRCUIT_BREAKER_* option is checked now, so a bad value fails the init, not each call.
    resolveOptions({ circuitId: 'fleet-breaker-extension', store: store.store, logger }, env)
    const service = new CircuitService({
      store: store.store,
      logger,
      maxCircuits: config.maxCircuits,
      maxPermits: config.maxPermits,
      permitTtlMs: config.permitTtlMs,
      concurrentInvocations: config.maxConcurrency > 1,
      actor: `extension:${env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown-function'}`,
    })
    const state = { shuttingDown: false }
    const server = new ApiServer({
      port: config.port,
      token: config.token,
      logger,
      service,
      adminEnabled: config.adminEnabled,
      isShuttingDown: () => state.shuttingDown,
      health: () => ({
        status: state.shuttingDown ? 'shutting-down' : 'ok',
        circuits: service.circuits,
        permits: service.ledger.size,
        store: store.kind,
      }),
    })
    const port = await server.listen()
    return Object.assign(state, { config, logger, store, service, server, port })
  } catch (error) {
    await store.close()
    throw error
  }
}

/** Settles what is outstanding and lets go of every connection, by `deadline` (epoch ms). */
async function shutDown(started: Started, deadline: number): Promise<void> {
  started.shuttingDown = true
  const { logger, service, server, store } = started
  const outstanding = await service.ledger.close(deadline)
  const closing = Promise.allSettled([server.close(), store.close()])
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = await Promise.race([
    closing.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()))
    }),
  ])
  clearTimeout(timer)
  server.destroy()
  logger.info('shut down', { permitsReleased: outstanding, closedInTime: !timedOut })
}
