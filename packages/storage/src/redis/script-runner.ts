import type { ScriptClient } from './client.js'
import type { LuaScript } from './scripts.js'

/*
 * Calls a script by its SHA1, the cheap way: one round trip that sends only the hash. When the
 * server does not know the script (first use on a new server, or its script cache was emptied by a
 * restart, a failover or SCRIPT FLUSH) it answers NOSCRIPT, and the call is made once more with the
 * full source through EVAL, which also puts the script back into that server's cache.
 *
 * EVAL rather than SCRIPT LOAD + EVALSHA: EVAL is routed by the key, so in Redis Cluster it lands on
 * the node that owns the circuit, whereas SCRIPT LOAD carries no key and may load the script on a
 * different node. And since the SHA1 is computed locally, a new environment needs no round trip
 * before its first call while the fleet has already cached the script on the server.
 */

/** Whether `error` is the server saying it does not know a script's SHA1. */
export function isNoScriptError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const message: unknown = Reflect.get(error, 'message')
  return typeof message === 'string' && /^NOSCRIPT\b/.test(message)
}

/**
 * Settles with `pending`, or rejects with the signal's reason as soon as it aborts. The command may
 * still complete on the server; the caller just stops waiting for it.
 */
function abortable<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return pending
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/**
 * Runs `script` on `key` with `args` (bound by name), honouring `signal`: an already aborted signal
 * rejects before anything is sent.
 */
export async function runScript<Arg extends string>(
  client: ScriptClient,
  script: LuaScript<Arg>,
  key: string,
  args: Readonly<Record<Arg, string>>,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  signal?.throwIfAborted()
  const keys = [key]
  const values = script.args.map((name) => args[name])
  try {
    return await abortable(client.evalSha(script.sha, keys, values), signal)
  } catch (error) {
    if (!isNoScriptError(error)) throw error
    signal?.throwIfAborted()
    return await abortable(client.eval(script.source, keys, values), signal)
  }
}
