import type { ScriptClient } from './client.js'
import type { LuaScript } from './scripts.js'

/*
 * Calls a script by its SHA1, the cheap way: one round trip that sends only the hash. When the
 * server does not know the script (first use on a new server, or its script cache was emptied by a
 * restart, a failover or SCRIPT FLUSH) it answers NOSCRIPT, and the call is made once more with the
 * full source through EVAL, which also puts the script back into that server's cache. A NOSCRIPT
 * answer means the script did not run, so sending it again cannot apply a write twice.
 *
 * EVAL rather than SCRIPT LOAD + EVALSHA: EVAL is routed by the key, so in Redis Cluster it lands on
 * the node that owns the circuit, whereas SCRIPT LOAD carries no key and may load the script on a
 * different node. And since the SHA1 is computed locally, a new environment needs no round trip
 * before its first call while the fleet has already cached the script on the server.
 *
 * A client still connecting (just created at module scope, or reconnecting) is waited for before
 * the command is sent, within the caller's signal: a client set up to fail commands at once while
 * disconnected (no offline queue) would otherwise fail the first call of every new environment.
 */

/** Whether `error` is the server saying it does not know a script's SHA1. */
export function isNoScriptError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const message: unknown = Reflect.get(error, 'message')
  return typeof message === 'string' && /^NOSCRIPT\b/.test(message)
}

/**
 * The callbacks waiting on each signal, behind one listener per signal: a caller may run many calls
 * under one signal (`getMany` of fifty circuits), and one listener each would make Node warn of a
 * listener leak (`MaxListenersExceededWarning`) past ten.
 */
const abortWaiters = new WeakMap<AbortSignal, Set<() => void>>()

/** Calls `callback` when `signal` aborts; returns the function that stops waiting. */
function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let waiters = abortWaiters.get(signal)
  if (waiters === undefined) {
    const created = new Set<() => void>()
    waiters = created
    abortWaiters.set(signal, created)
    signal.addEventListener(
      'abort',
      () => {
        abortWaiters.delete(signal)
        for (const waiter of created) waiter()
      },
      { once: true },
    )
  }
  const registered = waiters
  registered.add(callback)
  return () => registered.delete(callback)
}

/**
 * Settles with `pending`, or rejects with the signal's reason as soon as it aborts. The command may
 * still complete on the server; the caller just stops waiting for it.
 */
function abortable<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return pending
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      // Nobody waits for it any more; keep its rejection from being reported as unhandled.
      pending.catch(() => {})
      return
    }
    const stop = onAbort(signal, () => reject(signal.reason))
    pending.then(
      (value) => {
        stop()
        resolve(value)
      },
      (error: unknown) => {
        stop()
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
  const connecting = client.connecting()
  if (connecting !== undefined) {
    await abortable(connecting, signal)
    signal?.throwIfAborted()
  }
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
