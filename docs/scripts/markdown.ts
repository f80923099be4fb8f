/*
 * Markdown handling for the site: split a README into its sections, rewrite its links for the
 * page it lands on, and make its prose safe for VitePress, which compiles every page as a Vue
 * template.
 */

/** One `##` (or deeper) section of a Markdown document, with its heading line. */
export interface Section {
  readonly level: number
  readonly title: string
  /** The heading line and everything up to the next heading of the same level or higher. */
  readonly text: string
}

const FENCE = /^(```|~~~)/

/** Lines of a document, each marked as inside a fenced code block or not. */
function linesOf(markdown: string): Array<{ line: string; code: boolean }> {
  let inFence = false
  return markdown.split('\n').map((line) => {
    if (FENCE.test(line.trimStart())) {
      inFence = !inFence
      return { line, code: true }
    }
    return { line, code: inFence }
  })
}

/** The sections of `markdown` at `level` (2 for `##`). */
export function sectionsOf(markdown: string, level: number): Section[] {
  const sections: Array<{ level: number; title: string; lines: string[] }> = []
  let current: { level: number; title: string; lines: string[] } | undefined
  for (const { line, code } of linesOf(markdown)) {
    const heading = code ? null : /^(#{1,6})\s+(.*)$/.exec(line)
    if (heading?.[1] !== undefined && heading[1].length <= level) {
      current = heading[1].length === level ? { level, title: heading[2] ?? '', lines: [] } : undefined
      if (current !== undefined) sections.push(current)
    }
    current?.lines.push(line)
  }
  return sections.map((section) => ({ level: section.level, title: section.title, text: section.lines.join('\n') }))
}

/** The first section whose title matches, or undefined. */
export function sectionMatching(markdown: string, level: number, title: RegExp): Section | undefined {
  return sectionsOf(markdown, level).find((section) => title.test(section.title))
}

/** Moves every heading of `text` up or down by `shift` levels (at most `######`). */
export function shiftHeadings(text: string, shift: number): string {
  return linesOf(text)
    .map(({ line, code }) => {
      if (code) return line
      const heading = /^(#{1,6})(\s.*)$/.exec(line)
      if (heading?.[1] === undefined) return line
      const level = Math.min(6, Math.max(1, heading[1].length + shift))
      return `${'#'.repeat(level)}${heading[2] ?? ''}`
    })
    .join('\n')
}

/** The document without its first `#` heading line (a page gets its own title). */
export function withoutTitle(markdown: string): string {
  return markdown.replace(/^#\s+.*\n+/, '')
}

/**
 * Rewrites every link and image target outside code with `rewrite` (which gets the target as
 * written) and escapes what Vue would read as template syntax in prose: `{{` and a `<` that starts
 * no HTML tag we emit.
 */
export function transformProse(markdown: string, rewrite: (target: string) => string): string {
  return linesOf(markdown)
    .map(({ line, code }) => {
      if (code) return line
      // Links first (their text may hold code spans), then the prose between code spans, which
      // VitePress escapes itself.
      return line
        .replace(/(!?\[[^\]]*\]\()([^)\s]+)((?:\s+"[^"]*")?\))/g, (_all, open, target, close) => {
          return `${open}${rewrite(target)}${close}`
        })
        .split(/(`+[^`]*`+)/)
        .map((part, index) => {
          if (index % 2 === 1) return part
          return part
            .replace(/\{\{/g, '&#123;&#123;')
            .replace(/<(?!\/?(?:a|br|img|sup|sub|kbd|details|summary|b|i|em|strong|code|span|div|p)\b|!--)/g, '&lt;')
        })
        .join('')
    })
    .join('\n')
}
