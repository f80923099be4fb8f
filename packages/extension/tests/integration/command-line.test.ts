import { readFile } from 'node:fs/promises'
import { describe, expect, it } from '@jest/globals'
import { EXTENSION_VERSION } from '../../src/command-line.js'
import { EXTENSION_ENVIRONMENT_VARIABLES } from '../../src/config.js'
import { useExtensionHarness } from '../support/extension-harness.js'
import { runToExit } from '../support/run-to-exit.js'

/*
 * The executable's command line, run as a subprocess from the bundle the layers ship: someone who
 * finds `fleet-breaker-extension` (or /opt/extensions/fleet-breaker) and asks it what it is gets an
 * answer, not an attempt to reach a Runtime API.
 */

const harness = useExtensionHarness()

/** Runs the bundle with `args`; one that starts the extension instead of answering is killed. */
function run(args: readonly string[], env: Record<string, string> = {}) {
  return runToExit(harness.bundled.file, [...harness.bundled.args, ...args], { env, killAfterMs: 20_000 })
}

/** What the help must name: every variable of the extension's own, the Runtime API, the store. */
const DOCUMENTED = [
  ...Object.values(EXTENSION_ENVIRONMENT_VARIABLES),
  'AWS_LAMBDA_RUNTIME_API',
  'CIRCUIT_BREAKER_STORE',
]

describe('fleet-breaker-extension --help', () => {
  it.each([['--help'], ['-h']])(
    '%s prints what it is and what it reads, and exits 0',
    async (flag) => {
      const { code, stdout, stderr } = await run([flag])
      expect(code).toBe(0)
      expect(stderr).toBe('')
      expect(stdout).toMatch(/^Usage: fleet-breaker-extension/)
      expect(stdout).toContain('Lambda external extension')
      for (const variable of DOCUMENTED) expect(stdout).toContain(variable)
    },
    30_000,
  )

  it('neither starts nor registers inside a Lambda environment', async () => {
    const lambda = await harness.emulator()
    const { code, stdout } = await run(['--help'], { AWS_LAMBDA_RUNTIME_API: lambda.runtimeApi })
    expect(code).toBe(0)
    expect(stdout).toMatch(/^Usage:/)
    expect(lambda.extensions).toEqual([])
  }, 30_000)
})

describe('fleet-breaker-extension --version', () => {
  it('prints the package version and exits 0', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    expect(EXTENSION_VERSION).toBe(manifest.version)
    const { code, stdout, stderr } = await run(['--version'])
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: '' })
  }, 30_000)
})

describe('fleet-breaker-extension with an argument it does not know', () => {
  it('names it on stderr and exits 2, without starting', async () => {
    const { code, stdout, stderr } = await run(['--port=4243'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toContain('"--port=4243"')
    expect(stderr).toContain('--help')
  }, 30_000)
})
