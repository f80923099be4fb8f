/**
 * The candidate closest to `name`, when it is close enough to be a likely typo of it.
 *
 * Used only to make messages friendlier ("did you mean ..."), never to decide validity.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const lowered = name.toLowerCase()
  const tolerance = Math.max(2, Math.floor(name.length / 4))
  let best: { candidate: string; distance: number } | undefined
  for (const candidate of candidates) {
    const distance = editDistance(lowered, candidate.toLowerCase())
    if (distance <= tolerance && (best === undefined || distance < best.distance)) best = { candidate, distance }
  }
  return best?.candidate
}

/** A message suffix naming the likely intended name, or nothing. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const suggestion = closest(name, candidates)
  return suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`
}

/** Levenshtein distance, computed one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}
