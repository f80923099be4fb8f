// Loads a bundled handler (CommonJS or ES module) and invokes each of its handlers as Lambda would,
// three times: an answer, a failure that opens the circuit (threshold 1), then the open circuit's 503.
const assert = require('node:assert/strict')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

async function main() {
  const file = path.resolve(process.argv[2])
  const bundle = file.endsWith('.cjs') ? require(file) : await import(pathToFileURL(file).href)
  // An API Gateway HTTP API (payload 2.0) request.
  const event = (rawPath) => ({
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: {},
    requestContext: { http: { method: 'GET', path: rawPath } },
    isBase64Encoded: false,
  })
  assert.equal((await bundle.handler(event('/pay'))).statusCode, 200)
  assert.equal((await bundle.handler(event('/fail'))).statusCode, 502)
  assert.equal((await bundle.handler(event('/pay'))).statusCode, 503)
  // The Middy handler: an answer, a failure (the handler's own error), then the open circuit's 503.
  const context = { getRemainingTimeInMillis: () => 30_000, awsRequestId: 'request-1', functionName: 'quote' }
  assert.equal((await bundle.quoteHandler(event('/quote'), context)).statusCode, 200)
  await assert.rejects(bundle.quoteHandler(event('/fail'), context), /quote service down/)
  assert.equal((await bundle.quoteHandler(event('/quote'), context)).statusCode, 503)
  console.log(`${path.basename(file)}: ok`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
