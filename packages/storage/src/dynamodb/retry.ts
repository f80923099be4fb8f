import { setTimeout as sleep } from 'node:timers/promises'

/** Base delay of the backoff between retries of unprocessed batch items; doubles each time. */
const BASE_DELAY_MS = 20
const MAX_ROUNDS = 6

/** Splits `items` into consecutive chunks of at most `size`. */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

/**
 * Sends a batch and then whatever the service left unprocessed, with exponential backoff and
 * jitter, as DynamoDB asks of BatchGetItem and BatchWriteItem callers. `send` returns the
 * unprocessed remainder, or `undefined` when everything went through.
 */
export async function eachWithBackoff<Batch>(
  batch: Batch,
  send: (batch: Batch) => Promise<Batch | undefined>,
  signal: AbortSignal | undefined,
): Promise<void> {
  let pending: Batch | undefined = batch
  for (let round = 0; pending !== undefined; round++) {
    if (round === MAX_ROUNDS) throw new Error(`DynamoDB left items unprocessed after ${MAX_ROUNDS} attempts`)
    if (round > 0) await sleep(BASE_DELAY_MS * 2 ** (round - 1) * (0.5 + Math.random()), undefined, { signal })
    pending = await send(pending)
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
export async function runLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T
      await work(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
