// Peak memory of one side of a workload, in the child process that runs it (bench/child.ts).
//
// Two figures, both over the timed runs only, after a full garbage collection:
// - peak RSS, what `ps` shows: on Linux the kernel's own high-water mark (VmHWM), reset before
//   the runs by writing 5 to /proc/self/clear_refs, so nothing before counts and no spike is
//   missed; elsewhere, process.memoryUsage.rss() sampled every 5 ms. RSS also counts the table
//   files LevelDB maps into memory to read them: page cache, shared and reclaimable, which grows
//   with the size of the database, not with what the process holds.
// - peak anonymous memory (RssAnon, Linux only): what the process itself holds (heaps, buffers,
//   LevelDB's caches and memtables), sampled every 5 ms.
import { readFileSync, writeFileSync } from 'node:fs'

export interface Peak {
  rssMB: number
  /** null where the system does not say (not Linux) */
  anonMB: number | null
}

function status (): string | undefined {
  try {
    return readFileSync('/proc/self/status', 'utf8')
  } catch {
    return undefined
  }
}

function field (text: string | undefined, name: string): number | undefined {
  const m = text === undefined ? null : new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)
  return m === null ? undefined : Number(m[1]) / 1024
}

function resetHighWaterMark (): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
    return true
  } catch {
    return false
  }
}

/** Starts watching memory; the function returned stops and gives the peaks since. */
export function watchMemory (): () => Peak {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) gc()
  const kernelPeak = resetHighWaterMark() && field(status(), 'VmHWM') !== undefined
  let rss = 0
  let anon: number | null = null
  const sample = (): void => {
    const text = status()
    const a = field(text, 'RssAnon')
    if (a !== undefined) anon = Math.max(anon ?? 0, a)
    if (!kernelPeak) rss = Math.max(rss, process.memoryUsage.rss() / 2 ** 20)
  }
  sample()
  const timer = setInterval(sample, 5)
  return () => {
    clearInterval(timer)
    sample()
    return { rssMB: kernelPeak ? field(status(), 'VmHWM')! : rss, anonMB: anon }
  }
}
