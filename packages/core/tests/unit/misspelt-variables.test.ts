import { CircuitBreaker, MemoryStore } from '@fleet-breaker/core'
import { afterEach, describe, expect, it } from '@jest/globals'
import { recordingLogger } from './support.js'

/*
 * A misspelt variable would run the breaker on a default the operator believes they changed:
 * the breaker says so once, naming the variable it most likely meant.
 */

const set: string[] = []
function setVariable(name: string, value: string): void {
  process.env[name] = value
  set.push(name)
}
afterEach(() => {
  for (const name of set.splice(0)) delete process.env[name]
})

describe('a breaker created with a misspelt CIRCUIT_BREAKER_* variable in its environment', () => {
  it('warns once per process, naming the closest variable, and still uses the default', () => {
    setVariable('CIRCUIT_BREAKER_FAILURE_TRESHOLD', '9')
    const logger = recordingLogger()
    const first = new CircuitBreaker({ circuitId: 'a', store: new MemoryStore(), logger })
    new CircuitBreaker({ circuitId: 'b', store: new MemoryStore(), logger })
    expect(first.options.failureThreshold).toBe(3)
    expect(logger.at('warn')).toEqual([
      {
        level: 'warn',
        message:
          'fleet-breaker: CIRCUIT_BREAKER_FAILURE_TRESHOLD is not a variable fleet-breaker reads; did you mean CIRCUIT_BREAKER_FAILURE_THRESHOLD?',
        details: { variable: 'CIRCUIT_BREAKER_FAILURE_TRESHOLD', didYouMean: 'CIRCUIT_BREAKER_FAILURE_THRESHOLD' },
      },
    ])
  })

  it('says nothing about the variables it reads, nor about names far from all of them', () => {
    setVariable('CIRCUIT_BREAKER_FAILURE_RATE_THRESHOLD', '0.5')
    setVariable('CIRCUIT_BREAKER_STORE_OUTAGE', 'fail-open')
    setVariable('CIRCUIT_BREAKER_CACHE_TTL_MS', '100')
    setVariable('CIRCUIT_BREAKER_EXTENSION_PORT', '2773')
    const logger = recordingLogger()
    new CircuitBreaker({ circuitId: 'c', store: new MemoryStore(), logger })
    expect(logger.at('warn')).toEqual([])
  })
})
