/**
 * Milliseconds as signed seconds with two decimals, for times after an event.
 *
 * @example
 * ```ts
 * afterSeconds(420) // '+0.42 s'
 * ```
 */
export function afterSeconds(ms: number): string {
  return `+${(ms / 1_000).toFixed(2)} s`
}

/**
 * A duration in seconds, as short as it reads well.
 *
 * @example
 * ```ts
 * seconds(1_500) // '1.5 s'
 * ```
 */
export function seconds(ms: number): string {
  return `${Number((ms / 1_000).toFixed(2))} s`
}

/**
 * `count` and the noun, in the singular when there is one.
 *
 * @example
 * ```ts
 * plural(1, 'probe') // '1 probe'
 * plural(3, 'probe') // '3 probes'
 * ```
 */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`
}
