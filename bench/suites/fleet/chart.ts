import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { median } from '../../lib/stats.js'
import type { TimelinePoint } from './runs.js'

/** One strategy: its runs' timelines (one per seed) and what each run counted on recovery. */
export interface ChartSeries {
  readonly strategy: string
  readonly timelines: ReadonlyArray<readonly TimelinePoint[]>
  /** Probes that reached the recovered downstream, one figure per run. */
  readonly recoveryProbes: readonly number[]
}

/** Options of {@link outageChart}. */
export interface OutageChartOptions {
  readonly title: string
  /** Lines under the title. */
  readonly subtitle: readonly string[]
  readonly outageMs: number
  /** How long after recovery the run went on, in milliseconds. */
  readonly afterMs: number
}

/** The median over runs of each slice's `value`, keyed by the slice's start. */
function medianSlices(
  timelines: ReadonlyArray<readonly TimelinePoint[]>,
  value: (point: TimelinePoint) => number,
): Array<[number, number]> {
  const slices = new Map<number, number[]>()
  for (const timeline of timelines) {
    for (const point of timeline) {
      const values = slices.get(point.sinceOutageMs) ?? []
      values.push(value(point))
      slices.set(point.sinceOutageMs, values)
    }
  }
  return [...slices].sort(([a], [b]) => a - b).map(([at, values]) => [at, median(values)])
}

/** A run's total of `value` over the slices in `[fromMs, toMs)`. */
function total(timeline: readonly TimelinePoint[], fromMs: number, toMs: number, value: (p: TimelinePoint) => number) {
  return timeline
    .filter((point) => point.sinceOutageMs >= fromMs && point.sinceOutageMs < toMs)
    .reduce((sum, point) => sum + value(point), 0)
}

/**
 * What a reader should take from an outage, one clear panel each, rendered headless by vega-lite
 * (compiled to vega, a view with no renderer, `toSVG()`):
 * - small multiples, one per strategy on a shared scale: the cumulative count of calls that reached
 *   the failing downstream during the outage (lower and flatter is better: the fleet stopped);
 * - the probes that reached the recovered downstream (one is enough for the whole fleet);
 * - the invocations turned away after the downstream had recovered (calls lost to a circuit still
 *   open: the price of stopping).
 *
 * @example
 * ```ts
 * const svg = await outageChart(series, { title: 'Outage', subtitle: [], outageMs: 2_500, afterMs: 3_000 })
 * ```
 */
export async function outageChart(series: readonly ChartSeries[], options: OutageChartOptions): Promise<string> {
  const { outageMs, afterMs } = options
  const strategies = series.map((each) => each.strategy)
  // Each panel is titled with its strategy and the total it reached.
  const panels: string[] = []
  const cumulative = series.flatMap(({ strategy, timelines }) => {
    let sum = 0
    const points: Array<{ seconds: number; calls: number }> = [{ seconds: 0, calls: 0 }]
    for (const [at, failed] of medianSlices(timelines, (point) => point.failed)) {
      if (at < 0 || at >= outageMs) continue
      sum += failed
      points.push({ seconds: (at + 100) / 1_000, calls: sum })
    }
    const panel = `${strategy}: ${sum} calls`
    panels.push(panel)
    return points.map((point) => ({ panel, ...point }))
  })
  const recovery = series.flatMap(({ strategy, timelines, recoveryProbes }) => [
    { strategy, measure: 'probes that reached the recovered service', value: median([...recoveryProbes]) },
    {
      strategy,
      measure: 'invocations turned away after recovery',
      value: median(timelines.map((timeline) => total(timeline, outageMs, outageMs + afterMs, (p) => p.rejected))),
    },
  ])
  const strategySort = { field: 'strategy', type: 'nominal' as const, sort: strategies }
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: [...options.subtitle], anchor: 'start' },
    background: 'white',
    vconcat: [
      {
        title: { text: 'Calls that reached the failing service, cumulative, during the outage', anchor: 'start' },
        data: { values: cumulative },
        facet: {
          field: 'panel',
          type: 'nominal',
          sort: panels,
          title: null,
          header: { labelLimit: 0, labelFontSize: 11 },
        },
        columns: 3,
        spec: {
          width: 230,
          height: 120,
          mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2, color: '#c0392b' },
          encoding: {
            x: {
              field: 'seconds',
              type: 'quantitative',
              title: 'seconds into the outage',
              scale: { domain: [0, outageMs / 1_000], nice: false },
            },
            y: { field: 'calls', type: 'quantitative', title: 'calls (cumulative)' },
          },
        },
        resolve: { scale: { y: 'shared' } },
      },
      {
        title: { text: 'After the service recovered', anchor: 'start' },
        data: { values: recovery },
        hconcat: ['probes that reached the recovered service', 'invocations turned away after recovery'].map(
          (measure) => ({
            title: { text: measure, fontSize: 11 },
            transform: [{ filter: { field: 'measure', equal: measure } }],
            width: 300,
            height: 150,
            layer: [
              {
                mark: { type: 'bar', color: '#2c7fb8' },
                encoding: {
                  y: { ...strategySort, title: null, axis: { labelLimit: 260 } },
                  x: { field: 'value', type: 'quantitative', title: 'median over runs' },
                },
              },
              {
                mark: { type: 'text', align: 'left', dx: 3 },
                encoding: {
                  y: { ...strategySort },
                  x: { field: 'value', type: 'quantitative' },
                  text: { field: 'value', type: 'quantitative', format: 'd' },
                },
              },
            ],
          }),
        ),
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
