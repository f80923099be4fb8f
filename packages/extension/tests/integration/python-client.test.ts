import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, expect, it } from '@jest/globals'
import { useExtensionHarness } from '../support/extension-harness.js'
import type { ExtensionProcess } from '../support/extension-process.js'
import { runToExit } from '../support/run-to-exit.js'

/*
 * The Python client's own unittest suite (standard library only), run with python3 against the real
 * extension process.
 */

const here = dirname(fileURLToPath(import.meta.url))
const clientDir = resolve(here, '../../clients/python')
const exampleDir = resolve(here, '../../../../examples/python-extension')
const TOKEN = 'python-client-test-token'

const harness = useExtensionHarness()
let extension: ExtensionProcess

beforeAll(async () => {
  const launched = await harness.launch({
    CIRCUIT_BREAKER_CACHE_TTL_MS: '0',
    CIRCUIT_BREAKER_FAILURE_THRESHOLD: '2',
    CIRCUIT_BREAKER_RESET_TIMEOUT_MS: '60000',
    CIRCUIT_BREAKER_EXTENSION_TOKEN: TOKEN,
  })
  extension = launched.extension
  await launched.lambda.invoke({ requestId: 'python-request', timeoutMs: 120_000 })
}, 60_000)

/** Runs `python3 -m unittest -v <module>` in `cwd` against the extension; resolves with its exit code and output. */
async function unittest(cwd: string, module: string): Promise<{ code: unknown; output: string }> {
  const { code, stdout, stderr } = await runToExit('python3', ['-m', 'unittest', '-v', module], {
    cwd,
    env: {
      HOME: process.env.HOME ?? '',
      PYTHONDONTWRITEBYTECODE: '1',
      // The client, as the layer puts it on sys.path in /opt/python.
      PYTHONPATH: clientDir,
      FLEET_BREAKER_TEST_PORT: String(extension.port),
      FLEET_BREAKER_TEST_TOKEN: TOKEN,
      CIRCUIT_BREAKER_EXTENSION_TOKEN: TOKEN,
    },
  })
  const output = stdout + stderr
  if (code !== 0) console.error(output)
  return { code, output }
}

it('the Python client passes its unittest suite against the extension', async () => {
  const { code, output } = await unittest(clientDir, 'test_fleet_breaker_client')
  expect(output).toMatch(/Ran 6 tests/)
  expect(code).toBe(0)
}, 60_000)

it('the Python example stops calling its failing downstream through the extension', async () => {
  const { code, output } = await unittest(exampleDir, 'test_handler')
  expect(output).toMatch(/Ran 1 test/)
  expect(code).toBe(0)
}, 60_000)
