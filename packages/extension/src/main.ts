#!/usr/bin/env node
/*
 * The extension's executable: `fleet-breaker-extension` from npm, `/opt/extensions/fleet-breaker`
 * in the layer. Without arguments (as Lambda starts it) it runs until Lambda sends SHUTDOWN;
 * `--help` and `--version` print and exit.
 */
import { readCommandLine } from './command-line.js'
import { runExtension } from './extension.js'
import { extensionLogger } from './log.js'

const commandLine = readCommandLine(process.argv.slice(2))
if (commandLine.run) {
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
} else {
  process[commandLine.stream].write(commandLine.text)
  // Not process.exit(): the text is written out in full before the process ends by itself.
  process.exitCode = commandLine.code
}
