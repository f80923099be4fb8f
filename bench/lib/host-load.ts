import { readFileSync } from 'node:fs'

/*
 * How busy the host was while a suite ran. A virtual machine's timings move with its neighbours:
 * the hypervisor's "steal" (time this machine's CPUs were ready to run but another guest ran
 * instead) says so directly, where a slow run would otherwise only show in paths that did not change.
 */

/** Cumulative CPU time of every processor since boot, in clock ticks (Linux `/proc/stat`). */
export interface CpuTimes {
  readonly total: number
  readonly steal: number
}

/** The machine's CPU times now; `undefined` where `/proc/stat` does not exist. */
export function readCpuTimes(): CpuTimes | undefined {
  let stat: string
  try {
    stat = readFileSync('/proc/stat', 'utf8')
  } catch {
    return undefined
  }
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": the sum of all CPUs.
  const fields = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number)
  if (fields.length < 8 || fields.some((value) => !Number.isFinite(value))) return undefined
  return { total: fields.reduce((sum, value) => sum + value, 0), steal: fields[7] ?? 0 }
}

/** The share of CPU time the hypervisor took between two readings, as "0.4 %"; "not measured" without them. */
export function stealBetween(before: CpuTimes | undefined, after: CpuTimes | undefined): string {
  if (before === undefined || after === undefined || after.total <= before.total) return 'not measured'
  const share = (after.steal - before.steal) / (after.total - before.total)
  return `${(share * 100).toFixed(1)} %`
}
