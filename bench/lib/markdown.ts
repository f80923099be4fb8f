/** A Markdown table; cells are written as given. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(String).join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** A checklist of targets: met, or not, with what was measured. */
export function checklist(checks: ReadonlyArray<{ target: string; met: boolean; detail: string }>): string {
  return checks.map((check) => `- ${check.met ? 'met' : '**not met**'}: ${check.target} (${check.detail})`).join('\n')
}
