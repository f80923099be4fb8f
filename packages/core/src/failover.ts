import type { CircuitBreaker, ExecuteOptions } from './breaker.js'
import { type FailoverAttempt, FailoverExhaustedError, isCallTimeoutError, isCircuitBreakerError } from './errors.js'

/** One provider the failover helper may use: its breaker, and the call to make through it. */
export interface FailoverProvider<T> {
  /** Names the provider in attempts and errors (default: its breaker's circuit id). */
  readonly name?: string
  readonly breaker: CircuitBreaker
  call(signal: AbortSignal): T | Promise<T>
}

/** The value a provider returned, which provider it was, and what happened with those tried before. */
export interface FailoverResult<T> {
  readonly value: T
  readonly provider: string
  readonly attempts: readonly FailoverAttempt[]
}

/**
 * Tries providers in order, each through its own breaker, and returns the first success.
 *
 * A provider whose circuit is open (or that its breaker rejects for any other reason) is skipped
 * without being called, at no cost. A call that fails in a way its breaker counts moves on to the
 * next provider. An error the breaker does not count (a 400 for a malformed address, say) is
 * thrown at once: another provider would refuse the same request. When every provider is skipped
 * or fails, throws {@link FailoverExhaustedError}.
 *
 * @example
 * ```ts
 * const sent = await failover([
 *   { name: 'ses', breaker: breakers.get('ses'), call: (signal) => sendWithSes(mail, signal) },
 *   { name: 'sendgrid', breaker: breakers.get('sendgrid'), call: (signal) => sendWithSendgrid(mail, signal) },
 *   { name: 'mailgun', breaker: breakers.get('mailgun'), call: (signal) => sendWithMailgun(mail, signal) },
 * ])
 * console.log(`sent through ${sent.provider}`)
 * ```
 */
export async function failover<T>(
  providers: readonly FailoverProvider<T>[],
  options: ExecuteOptions = {},
): Promise<FailoverResult<T>> {
  const attempts: FailoverAttempt[] = []
  for (const provider of providers) {
    const name = provider.name ?? provider.breaker.circuitId
    try {
      const value = await provider.breaker.execute((signal) => provider.call(signal), options)
      return { value, provider: name, attempts }
    } catch (error) {
      if (isCircuitBreakerError(error) && !isCallTimeoutError(error)) {
        attempts.push({ provider: name, outcome: 'rejected', error })
      } else if (provider.breaker.countsAsFailure(error)) {
        attempts.push({ provider: name, outcome: 'failed', error })
      } else {
        throw error
      }
      options.signal?.throwIfAborted()
    }
  }
  throw new FailoverExhaustedError(attempts)
}
