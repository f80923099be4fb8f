/**
 * Checks a CloudWatch Embedded Metric Format document against the specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
 * returns the problems found, none for a valid document.
 */
export const EMF_UNITS: ReadonlySet<string> = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
])

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

export function emfProblems(document: unknown): string[] {
  const problems: string[] = []
  if (!isRecord(document)) return ['the document is not a JSON object']
  const aws = document._aws
  if (!isRecord(aws)) return ['no _aws object']
  const timestamp = aws.Timestamp
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) {
    problems.push(`_aws.Timestamp is not epoch milliseconds: ${String(timestamp)}`)
  }
  const directives = aws.CloudWatchMetrics
  if (!Array.isArray(directives) || directives.length === 0) return [...problems, 'no CloudWatchMetrics directives']
  for (const directive of directives) {
    if (!isRecord(directive)) {
      problems.push('a directive is not an object')
      continue
    }
    const { Namespace, Dimensions, Metrics } = directive
    if (typeof Namespace !== 'string' || Namespace.length < 1 || Namespace.length > 1024 || Namespace.trim() === '') {
      problems.push(`bad Namespace ${String(Namespace)}`)
    }
    if (!Array.isArray(Dimensions)) problems.push('Dimensions is not an array')
    else
      for (const set of Dimensions) {
        if (!Array.isArray(set) || set.length > 30) {
          problems.push('a dimension set is not an array of at most 30 names')
          continue
        }
        for (const name of set) {
          if (typeof name !== 'string' || typeof document[name] !== 'string') {
            problems.push(`dimension ${String(name)} has no string value in the document`)
          }
        }
      }
    if (!Array.isArray(Metrics) || Metrics.length > 100) {
      problems.push('Metrics is not an array of at most 100 definitions')
      continue
    }
    for (const metric of Metrics) {
      if (!isRecord(metric) || typeof metric.Name !== 'string' || metric.Name.length < 1 || metric.Name.length > 1024) {
        problems.push('a metric definition has no valid Name')
        continue
      }
      if (metric.Unit !== undefined && !EMF_UNITS.has(String(metric.Unit)))
        problems.push(`bad unit ${String(metric.Unit)}`)
      const value = document[metric.Name]
      const values = Array.isArray(value) ? value : [value]
      if (
        values.length === 0 ||
        values.length > 100 ||
        !values.every((item) => typeof item === 'number' && Number.isFinite(item))
      ) {
        problems.push(`metric ${metric.Name} has no numeric value (or more than 100)`)
      }
    }
  }
  return problems
}

/** Captures what is written to stdout (and to the other `streams` given) while `during` runs, as lines. */
export async function captureStdout(
  during: () => Promise<void>,
  streams: readonly NodeJS.WriteStream[] = [process.stdout],
): Promise<string[]> {
  const chunks: string[] = []
  const originals = streams.map((stream) => stream.write)
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
      const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined
      callback?.()
      return true
    }) as typeof stream.write
  }
  try {
    await during()
  } finally {
    streams.forEach((stream, index) => {
      const original = originals[index]
      if (original !== undefined) stream.write = original
    })
  }
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
}

/** The EMF documents among `lines` (JSON objects with an `_aws` member). */
export function emfDocuments(lines: readonly string[]): Array<Record<string, unknown>> {
  return lines.flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line)
      return isRecord(parsed) && '_aws' in parsed ? [parsed] : []
    } catch {
      return []
    }
  })
}

/** Sums each metric over `documents`: name → total of its values. */
export function metricTotals(documents: ReadonlyArray<Record<string, unknown>>): Map<string, number> {
  const totals = new Map<string, number>()
  for (const document of documents) {
    const aws = document._aws as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }
    for (const directive of aws.CloudWatchMetrics) {
      for (const { Name } of directive.Metrics) {
        const value = document[Name]
        const values = Array.isArray(value) ? (value as number[]) : [value as number]
        totals.set(Name, (totals.get(Name) ?? 0) + values.reduce((sum, item) => sum + item, 0))
      }
    }
  }
  return totals
}
