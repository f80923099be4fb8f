/** The value at quantile `q` (0..1) of `values`, by linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const position = (sorted.length - 1) * q
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  const low = sorted[lower] as number
  const high = sorted[upper] as number
  return low + (high - low) * (position - lower)
}

export const median = (values: readonly number[]): number => quantile(values, 0.5)

/** Median and spread (min–max) of repeated measurements. */
export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: number
}

export function summarise(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length }
}

/** `median (min–max)` with `digits` decimals. */
export function formatSummary(summary: Summary, digits = 0, unit = ''): string {
  const f = (value: number) => value.toFixed(digits)
  return summary.runs > 1
    ? `${f(summary.median)}${unit} (${f(summary.min)}–${f(summary.max)})`
    : `${f(summary.median)}${unit}`
}
