/** How much work a suite does: `quick` is the short mode CI runs, so the benchmarks cannot rot. */
export interface SuiteOptions {
  readonly quick: boolean
  /** Progress lines for the console. */
  readonly log: (line: string) => void
}

/** A target a suite checks, and whether this run met it. */
export interface TargetCheck {
  readonly target: string
  readonly met: boolean
  readonly detail: string
}

/** What a suite hands to the report. */
export interface SuiteResult {
  readonly id: string
  readonly title: string
  /** The section's body in Markdown: method, tables, remarks. */
  readonly markdown: string
  readonly checks: readonly TargetCheck[]
  /** Raw figures, written to bench/results/<id>.json. */
  readonly data: unknown
  /** Extra files (charts), paths relative to the repository root. */
  readonly files?: ReadonlyArray<{ readonly path: string; readonly content: string }>
  /** One-line headline figures the README may quote. */
  readonly headlines?: readonly string[]
}

export type Suite = (options: SuiteOptions) => Promise<SuiteResult>
