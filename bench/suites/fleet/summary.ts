import { formatSummary, summarise } from '../../lib/stats.js'

/**
 * Repeated measurements as a table cell: `median (min–max)` of the defined values, followed by how
 * many runs had none (`never`), or `never` alone when none had one.
 *
 * @example
 * ```ts
 * summaryCell([3, 5, 4]) // '4 (3–5)'
 * summaryCell([420, undefined, 380], { scale: 1 / 1_000, digits: 2 }) // '0.40 (0.38–0.42); never in 1'
 * ```
 */
export function summaryCell(
  values: readonly (number | undefined)[],
  format: { readonly digits?: number; readonly scale?: number; readonly never?: string } = {},
): string {
  const { digits = 0, scale = 1, never = 'never' } = format
  const defined = values.flatMap((value) => (value === undefined || Number.isNaN(value) ? [] : [value * scale]))
  if (defined.length === 0) return never
  const cell = formatSummary(summarise(defined), digits)
  const missing = values.length - defined.length
  return missing === 0 ? cell : `${cell}; ${never} in ${missing}`
}

/** Seconds, from milliseconds, with two decimals. */
export const secondsCell = (values: readonly (number | undefined)[], never = 'never'): string =>
  summaryCell(values, { digits: 2, scale: 1 / 1_000, never })
