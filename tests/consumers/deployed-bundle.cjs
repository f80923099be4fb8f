// The CommonJS bundle as Lambda runs it: alone in a directory, no node_modules beside it. The
// in-memory store works; a Redis store from the environment cannot load its client (bundlers do not
// follow a module loaded by name), and the rejection says how to ship one.
const assert = require('node:assert/strict')
const path = require('node:path')

async function main() {
  const bundle = require(path.resolve(process.argv[2]))
  const event = {
    version: '2.0',
    rawPath: '/pay',
    headers: {},
    requestContext: { http: { method: 'GET', path: '/pay' } },
  }
  if (process.env.CIRCUIT_BREAKER_STORE === 'redis') {
    await assert.rejects(bundle.handler(event), (error) => {
      assert.equal(error.name, 'InvalidConfigurationError')
      assert.match(error.message, /bundling\.nodeModules/)
      assert.match(error.message, /new RedisStore\(\{ client \}\)/)
      return true
    })
  } else {
    assert.equal((await bundle.handler(event)).statusCode, 200)
  }
  console.log(`${path.basename(process.argv[2])} alone, ${process.env.CIRCUIT_BREAKER_STORE} store: ok`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
