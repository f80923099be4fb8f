import type { Redis } from 'ioredis'

/**
 * Deletes every key under `prefix`, a SCAN page at a time, so a test run leaves nothing behind on a
 * shared Redis without touching other runs' keys.
 */
export async function deleteKeysUnder(redis: Pick<Redis, 'scan' | 'unlink'>, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
}
