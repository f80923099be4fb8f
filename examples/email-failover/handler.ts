/**
 * Sends an email through the first of three providers that works, each behind its own breaker:
 * a provider whose circuit is open is skipped without a call, so an outage at the first one
 * costs the fleet a handful of failed calls, not one per email.
 *
 * Invoked asynchronously (EventBridge, SNS, another function): when every provider is down the
 * handler throws, and Lambda's retries and on-failure destination keep the email.
 *
 * Configuration: CIRCUIT_BREAKER_TABLE, EMAIL_PROVIDER_URLS (comma-separated, in order of preference).
 */
import { Metrics } from '@aws-lambda-powertools/metrics'
import { BreakerRegistry, failover } from '@fleet-breaker/core'
import { createStoreFromEnvironment } from '@fleet-breaker/storage'

// The breaker's metrics (CircuitOpened and the rest, in EMF): the namespace and service the alarms
// of ../sam/template.yaml watch.
const metrics = new Metrics({ namespace: 'fleet-breaker-examples', serviceName: 'fleet-breaker-examples' })

const breakers = new BreakerRegistry({
  store: await createStoreFromEnvironment(),
  metrics,
  circuitIdPrefix: 'email:',
  failureThreshold: 3,
  callTimeoutMs: 2_000,
})

const providers = (process.env.EMAIL_PROVIDER_URLS ?? 'ses=http://127.0.0.1:8091').split(',').map((entry) => {
  const [name = '', url = ''] = entry.split('=')
  return { name: name.trim(), url: url.trim() }
})

export interface EmailEvent {
  readonly to: string
  readonly subject: string
  readonly text: string
}

export async function handler(event: EmailEvent): Promise<{ provider: string; skipped: string[] }> {
  const sent = await failover(
    providers.map(({ name, url }) => ({
      name,
      breaker: breakers.get(name),
      call: async (signal: AbortSignal) => {
        const response = await fetch(`${url}/send`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(event),
          signal,
        })
        if (!response.ok)
          throw Object.assign(new Error(`${name} answered ${response.status}`), { statusCode: response.status })
        return response.status
      },
    })),
  )
  return { provider: sent.provider, skipped: sent.attempts.map((attempt) => attempt.provider) }
}
