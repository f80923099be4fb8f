import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { median } from '../../lib/stats.js'
import type { TimelinePoint } from './runs.js'

/** One legend for colour and dash (the same field), under the plot. */
const LEGEND = { orient: 'bottom', columns: 2, labelLimit: 360, symbolStrokeWidth: 2, symbolSize: 300 } as const

/** One strategy's line: its runs' timelines (one per seed). */
export interface ChartSeries {
  readonly strategy: string
  /** Dash pattern of the line; absent: solid. */
  readonly dash?: readonly number[]
  readonly timelines: ReadonlyArray<readonly TimelinePoint[]>
}

/** Options of {@link outageChart}. */
export interface OutageChartOptions {
  readonly title: string
  /** Lines under the title. */
  readonly subtitle: readonly string[]
  readonly outageMs: number
  /** Shown before the outage and after recovery, in milliseconds. */
  readonly beforeMs: number
  readonly afterMs: number
}

/**
 * An SVG line chart of the calls reaching the downstream per 100 ms, one line per strategy (the
 * median over its runs of each slice), with rules where the outage starts and where it ends.
 * Rendered headless: vega-lite compiled to vega, a view with no renderer, `toSVG()`.
 *
 * @example
 * ```ts
 * const svg = await outageChart(series, { title: 'Calls', subtitle: '', outageMs: 2_500, beforeMs: 500, afterMs: 2_000 })
 * ```
 */
export async function outageChart(series: readonly ChartSeries[], options: OutageChartOptions): Promise<string> {
  const fromMs = -options.beforeMs
  const toMs = options.outageMs + options.afterMs
  const points = series.flatMap(({ strategy, timelines }) => {
    const slices = new Map<number, number[]>()
    for (const timeline of timelines) {
      for (const point of timeline) {
        if (point.sinceOutageMs < fromMs || point.sinceOutageMs >= toMs) continue
        const calls = slices.get(point.sinceOutageMs) ?? []
        calls.push(point.calls)
        slices.set(point.sinceOutageMs, calls)
      }
    }
    return [...slices]
      .sort(([a], [b]) => a - b)
      .map(([sinceOutageMs, calls]) => ({ strategy, seconds: sinceOutageMs / 1_000, calls: median(calls) }))
  })
  const strategies = series.map((each) => each.strategy)
  const events = [
    { seconds: 0, label: 'outage starts' },
    { seconds: options.outageMs / 1_000, label: 'service recovers' },
  ]
  const x = {
    field: 'seconds',
    type: 'quantitative' as const,
    title: 'seconds since the outage started',
    scale: { domain: [fromMs / 1_000, toMs / 1_000], nice: false },
  }
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: [...options.subtitle], anchor: 'start' },
    width: 760,
    height: 340,
    background: 'white',
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: {
          x,
          y: { field: 'calls', type: 'quantitative', title: 'calls reaching the downstream per 100 ms' },
          color: {
            field: 'strategy',
            type: 'nominal',
            title: null,
            sort: strategies,
            legend: LEGEND,
          },
          // Lines that coincide (per-environment breakers with the same rule) stay told apart by their dashes.
          strokeDash: {
            field: 'strategy',
            type: 'nominal',
            title: null,
            sort: strategies,
            scale: { domain: strategies, range: series.map((each) => [...(each.dash ?? [1, 0])]) },
            legend: LEGEND,
          },
        },
      },
      {
        data: { values: events },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#555' },
        encoding: { x },
      },
      {
        data: { values: events },
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, y: 4, color: '#333' },
        encoding: { x, text: { field: 'label' } },
      },
    ],
  }
  const view = new View(parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
