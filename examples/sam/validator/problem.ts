/** One thing wrong with a template, located by a path such as `Resources.Table.Properties.KeySchema[0]`. */
export interface TemplateProblem {
  /** Where the problem is: mapping keys joined by dots, list positions in brackets. */
  readonly path: string
  /** What is wrong, in words a template author can act on. */
  readonly message: string
}

/** The path of `key` inside the value at `path`. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}
