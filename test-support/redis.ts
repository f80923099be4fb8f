/**
 * The Redis server the integration tests run against (see global-setup.ts). Throws, failing the
 * test that asks, when none is available: Redis tests are never skipped.
 */
export function testRedisUrl(): string {
  const url = process.env.FLEET_BREAKER_TEST_REDIS_URL
  if (url === undefined) {
    throw new Error(process.env.FLEET_BREAKER_TEST_REDIS_ERROR ?? 'The Jest global setup found no Redis server.')
  }
  return url
}
