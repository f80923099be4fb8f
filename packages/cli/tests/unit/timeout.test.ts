import { describe, expect, it } from '@jest/globals'
import { exactDuration, parseTimeout } from '../../src/timeout.js'

describe('--timeout as an operator types it', () => {
  it.each([
    ['30s', 30_000],
    ['1500ms', 1_500],
    ['2m', 120_000],
    ['1ms', 1],
    ['24h', 86_400_000],
  ])('reads %p as %p ms', (text, ms) => {
    expect(parseTimeout(text)).toBe(ms)
  })

  it.each(['1500', '', '5x', '1.5s', '-1s', '0s', '24h1ms', '2d'])(
    'refuses %p, naming the option and the value (exit code 2)',
    (text) => {
      expect(() => parseTimeout(text)).toThrow(
        expect.objectContaining({
          name: 'UsageError',
          exitCode: 2,
          message: `--timeout must be a duration from 1ms to 24h, such as 30s, 2m or 1500ms; received "${text}"`,
        }),
      )
    },
  )

  it.each([
    [1_000, '1s'],
    [1_500, '1s500ms'],
    [90_000, '1m30s'],
    [86_400_000, '24h'],
    [250, '250ms'],
  ])('shows %p ms as %p, exactly and as it can be typed', (ms, text) => {
    expect(exactDuration(ms)).toBe(text)
    expect(parseTimeout(text)).toBe(ms)
  })
})
