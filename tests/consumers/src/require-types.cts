// A CommonJS TypeScript module (`.cts`): every entry point through `require`, so the `.d.cts`
// declarations are the ones checked, under the strictest options a user may have.
import core = require('@fleet-breaker/core')
import testing = require('@fleet-breaker/core/testing')
import storage = require('@fleet-breaker/storage')
import dynamodb = require('@fleet-breaker/storage/dynamodb')
import redis = require('@fleet-breaker/storage/redis')
import middy = require('@fleet-breaker/middy')
import lambda = require('@fleet-breaker/lambda')
import cli = require('@fleet-breaker/cli')
import extension = require('@fleet-breaker/extension')
import extensionClient = require('@fleet-breaker/extension/client')
import eventbridge = require('@fleet-breaker/eventbridge')

const modules = [core, testing, storage, dynamodb, redis, middy, lambda, cli, extension, extensionClient, eventbridge]

async function protectedCall(): Promise<string> {
  const breaker = new core.CircuitBreaker({ circuitId: 'cts', store: new core.MemoryStore(), failureThreshold: 1 })
  try {
    return await breaker.execute(async () => 'answered')
  } catch (error) {
    if (core.isCircuitOpenError(error)) return `open for ${error.retryAfterMs} ms`
    throw error
  }
}

export = { modules, protectedCall }
