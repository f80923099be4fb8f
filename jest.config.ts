import type { Config } from 'jest'

/*
 * One Jest run over every package, in ESM mode (`@middy/core` ships ESM only). Tests import the
 * packages by name; the mapper points those names at the TypeScript sources, so tests need no build.
 */
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: {
    '^@fleet-breaker/core$': '<rootDir>/packages/core/src/index.ts',
    '^@fleet-breaker/core/testing$': '<rootDir>/packages/core/src/testing/index.ts',
    '^@fleet-breaker/storage$': '<rootDir>/packages/storage/src/index.ts',
    '^@fleet-breaker/storage/(dynamodb|redis)$': '<rootDir>/packages/storage/src/$1/index.ts',
    '^@fleet-breaker/middy$': '<rootDir>/packages/middy/src/index.ts',
    '^@fleet-breaker/eventbridge$': '<rootDir>/packages/eventbridge/src/index.ts',
    '^@fleet-breaker/lambda$': '<rootDir>/packages/lambda/src/index.ts',
    '^@fleet-breaker/cli$': '<rootDir>/packages/cli/src/index.ts',
    '^@fleet-breaker/extension$': '<rootDir>/packages/extension/src/index.ts',
    '^@fleet-breaker/extension/client$': '<rootDir>/packages/extension/src/client.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: [
    '<rootDir>/packages/*/tests/**/*.test.ts',
    '<rootDir>/examples/**/*.test.ts',
    '<rootDir>/test-support/tests/**/*.test.ts',
    '<rootDir>/scripts/tests/**/*.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  globalSetup: '<rootDir>/test-support/redis-setup.ts',
  globalTeardown: '<rootDir>/test-support/global-teardown.ts',
}

export default config
