import type { AlarmStateChangeEvent } from '@fleet-breaker/lambda'

/** The alarm most tests route to their circuits. */
export const ALARM = 'payments-5xx'

/** A logger that drops everything. */
export const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** An EventBridge "CloudWatch Alarm State Change" event as CloudWatch sends it. */
export function alarmEvent(
  value: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA',
  timestamp: string,
  alarmName = ALARM,
): AlarmStateChangeEvent {
  const previous = value === 'ALARM' ? 'OK' : 'ALARM'
  return {
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: timestamp.replace(/\.\d+\+0000$/, 'Z'),
    region: 'eu-west-1',
    resources: [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: {
        value,
        reason: 'Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (5.0).',
        timestamp,
      },
      previousState: { value: previous, reason: 'Threshold Crossed', timestamp: '2026-12-02T14:00:00.000+0000' },
      configuration: { metrics: [{ id: 'm1', metricStat: { metric: { namespace: 'Payments', name: 'Errors' } } }] },
    },
  } as unknown as AlarmStateChangeEvent
}
