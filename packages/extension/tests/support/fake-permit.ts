import type { CallPermit, Verdict } from '@fleet-breaker/core'

/** A permit that remembers how it was settled, in order: each verdict recorded, or `released`. */
export function fakePermit(circuitId = 'c', isProbe = false): { permit: CallPermit; settled: string[] } {
  const settled: string[] = []
  const settle = (how: Verdict) => async () => {
    settled.push(how)
    return how
  }
  const permit: CallPermit = {
    circuitId,
    isProbe,
    recordResult: settle('success'),
    recordError: settle('failure'),
    recordSuccess: settle('success'),
    recordFailure: settle('failure'),
    release: async () => {
      settled.push('released')
    },
  }
  return { permit, settled }
}
