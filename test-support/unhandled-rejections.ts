/**
 * Collects the process's unhandled rejections while `run` runs (and a few turns after), for tests
 * that prove a component never leaves a promise rejection unhandled.
 */
export async function unhandledRejectionsDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const listener = (reason: unknown) => void seen.push(reason)
  process.on('unhandledRejection', listener)
  try {
    await run()
    // Unhandled rejections are reported after the microtask queue drains.
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('unhandledRejection', listener)
  }
  return seen
}
