#!/usr/bin/env node
/*
 * The extension's executable: `fleet-breaker-extension` from npm, `/opt/extensions/fleet-breaker`
 * in the layer. It runs until Lambda sends SHUTDOWN.
 */
import { runExtension } from './extension.js'
import { extensionLogger } from './log.js'

const logger = extensionLogger('info')
// Nothing a request does may end the process: a bug is logged, and the environment keeps its breaker.
process.on('uncaughtException', (error) => logger.error('uncaught exception', { error }))
process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: reason }))

runExtension().then(
  (code) => process.exit(code),
  (error: unknown) => {
    logger.error('the extension failed', { error })
    process.exit(1)
  },
)
