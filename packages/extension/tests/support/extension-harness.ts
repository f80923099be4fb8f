import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals'
import { type LambdaEmulator, startLambdaEmulator } from '../../../../test-support/lambda-runtime-emulator.js'
import {
  buildBundledExtension,
  type ExtensionCommand,
  type ExtensionProcess,
  launchExtension,
} from './extension-process.js'

/** The options of the Lambda emulator (a SHUTDOWN-only registration, a function name). */
export type EmulatorOptions = Parameters<typeof startLambdaEmulator>[0]

/** An extension process and the emulated Lambda it registered with. */
export interface LaunchedExtension {
  readonly extension: ExtensionProcess
  readonly lambda: LambdaEmulator
}

/** What a test file gets from {@link useExtensionHarness}. */
export interface ExtensionHarness {
  /** `node <bundle>`: the extension bundled for this file. Available from the file's `beforeAll` on. */
  readonly bundled: ExtensionCommand
  /** A Lambda emulator, stopped with the rest. */
  emulator(options?: EmulatorOptions): Promise<LambdaEmulator>
  /** Starts the extension against `lambda` and waits until it has registered; killed with the rest. */
  extension(lambda: LambdaEmulator, env?: Record<string, string>, command?: ExtensionCommand): Promise<ExtensionProcess>
  /** An emulator of its own and the extension (the bundle unless `command` says otherwise) registered with it. */
  launch(
    env?: Record<string, string>,
    options?: { command?: ExtensionCommand; emulator?: EmulatorOptions },
  ): Promise<LaunchedExtension>
}

/** Processes and emulators to end together, extensions first so none outlives its Runtime API. */
class Running {
  readonly extensions: ExtensionProcess[] = []
  readonly emulators: LambdaEmulator[] = []

  async stop(): Promise<void> {
    await Promise.all(this.extensions.splice(0).map((extension) => extension.kill()))
    await Promise.all(this.emulators.splice(0).map((emulator) => emulator.stop()))
  }
}

/**
 * Sets up a test file that runs the real extension process: bundles the extension once before the
 * file's tests, and ends every process and emulator started through the harness. What a test
 * starts is ended after that test, so the next one starts clean; what a `beforeAll` starts (one
 * process shared by a group of tests) is ended after the file, before the bundle is removed.
 * Call it once, at the top level of the file.
 *
 * @example
 * ```ts
 * const harness = useExtensionHarness()
 * it('admits', async () => {
 *   const { extension, lambda } = await harness.launch({ CIRCUIT_BREAKER_CACHE_TTL_MS: '0' })
 *   await lambda.invoke()
 * })
 * ```
 */
export function useExtensionHarness(): ExtensionHarness {
  let bundle: { command: ExtensionCommand; cleanup: () => Promise<void> } | undefined
  const forTest = new Running()
  const forFile = new Running()
  let inTest = false
  const current = () => (inTest ? forTest : forFile)

  beforeAll(async () => {
    bundle = await buildBundledExtension()
  }, 60_000)
  beforeEach(() => {
    inTest = true
  })
  afterEach(async () => {
    inTest = false
    await forTest.stop()
  })
  afterAll(async () => {
    await forFile.stop()
    await bundle?.cleanup()
  })

  const harness: ExtensionHarness = {
    get bundled() {
      if (bundle === undefined) throw new Error('the extension is bundled in beforeAll')
      return bundle.command
    },
    async emulator(options) {
      const running = current()
      const lambda = await startLambdaEmulator(options)
      running.emulators.push(lambda)
      return lambda
    },
    async extension(lambda, env = {}, command = harness.bundled) {
      const running = current()
      const extension = await launchExtension(command, lambda, env)
      running.extensions.push(extension)
      return extension
    },
    async launch(env = {}, options = {}) {
      const lambda = await harness.emulator(options.emulator)
      const extension = await harness.extension(lambda, env, options.command)
      return { extension, lambda }
    },
  }
  return harness
}
