import { formatDuration, isCliError, parseDuration } from '@fleet-breaker/cli'
import { describe, expect, it } from '@jest/globals'

describe('durations an operator types', () => {
  it.each([
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['2d', 172_800_000],
    ['500ms', 500],
    ['1d2h3m4s5ms', 93_784_005],
    [' 15m ', 900_000],
  ])('reads %p as %p ms', (text, ms) => {
    expect(parseDuration(text, '--for')).toBe(ms)
  })

  it.each(['5x', '30', '', '1.5h', '-1h', '0m', '30m1h', '1h1h', 'm', '1h 30m', '99999999999999999d'])(
    'refuses %p, naming the option and the value (exit code 2)',
    (text) => {
      let thrown: unknown
      try {
        parseDuration(text, '--for')
      } catch (error) {
        thrown = error
      }
      expect(isCliError(thrown)).toBe(true)
      expect(thrown).toMatchObject({
        exitCode: 2,
        message: `--for must be a duration such as 30m, 1h30m, 90s or 2d; received "${text}"`,
      })
    },
  )

  it.each([
    [0, '0ms'],
    [800, '800ms'],
    [45_000, '45s'],
    [65_000, '1m 05s'],
    [1_799_999, '29m 59s'],
    [3_600_000, '1h 00m'],
    [14_700_000, '4h 05m'],
    [90_000_000, '1d 01h'],
  ])('writes %p ms as %p, the second unit padded so columns keep their width', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
})
