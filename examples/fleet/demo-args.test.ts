import { describe, expect, it } from '@jest/globals'
import { DEMO_DEFAULTS, parseDemoArgs, UsageError } from './demo-args.js'

describe('the demo flags', () => {
  it('default to 20 environments on the embedded DynamoDB, threshold 5, a fixed seed', () => {
    expect(parseDemoArgs([])).toEqual({ ...DEMO_DEFAULTS, help: false })
  })

  it('read values given after the flag or after an equals sign', () => {
    expect(
      parseDemoArgs(['--envs', '200', '--store=redis', '--threshold=3', '--seed', '9', '--cache-ttl', '0']),
    ).toEqual({
      environments: 200,
      store: 'redis',
      threshold: 3,
      seed: 9,
      cacheTtlMs: 0,
      help: false,
    })
  })

  it('skip the separator pnpm passes through', () => {
    expect(parseDemoArgs(['--', '--envs', '3']).environments).toBe(3)
  })

  it('ask for help', () => {
    expect(parseDemoArgs(['--help']).help).toBe(true)
  })

  it.each([
    [['--envs', '0'], '--envs must be a whole number from 1 to 500; received "0"'],
    [['--envs', '2.5'], '--envs must be a whole number from 1 to 500; received "2.5"'],
    [['--threshold', 'five'], '--threshold must be a whole number from 1 to 1000; received "five"'],
    [['--store', 'sqlite'], '--store must be one of memory, dynamodb, redis; received "sqlite"'],
    [['--envs'], '--envs needs a value; see --help'],
    [['--envs', '--store', 'redis'], '--envs needs a value; see --help'],
    [['--verbose'], 'unknown option "--verbose"; see --help'],
  ])('reject %j with a message naming the flag', (argv, message) => {
    expect(() => parseDemoArgs(argv)).toThrow(new UsageError(message))
  })
})
