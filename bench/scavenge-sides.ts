// The sides of the scavenge workload (lifecycle.ts), each run in a process of its own for each
// run (forked.ts), on a copy of its log the parent made: annals scavenging the events of the
// deleted streams; raw classic-level deleting the same events' keys in batches (then, for
// reference, compacting the range they span); and raw classic-level rewriting its chunks
// (raw-chunks.ts). Each process then holds only its own side's memory, and its peak RSS is the
// side's: the "memory flat" target is of the scavenge, not of what the runs before it
// left in a shared process. Only the annals side loads annals.
import { ClassicLevel } from 'classic-level'
import { serveSides } from './forked.js'
import { key8 } from './lib.js'
import type { Timing } from './measure.js'
import { rewriteChunks, type ChunksTask } from './raw-chunks.js'

/**
 * What a side is told: its copy's folder, which events are removed (`position % streams <
 * deleted`, of `events`), and a scavenge's batch (in chunks, for the chunk rewrite; in positions,
 * for the raw deletes).
 */
export interface ScavengeTask extends ChunksTask {
  events: number
  batchPositions: number
}

/** This module, forked to run a side. */
export const SIDES = import.meta.url

/** annals: opens the copy, deletes the streams `user-0` to `user-<deleted - 1>`, then scavenges (timed). */
async function scavenge (task: ScavengeTask): Promise<Timing> {
  const { open } = await import('../src/index.js')
  const db = await open(task.dir)
  try {
    for (let u = 0; u < task.deleted; u++) await db.deleteStream(`user-${u}`)
    const start = performance.now()
    const { removed } = await db.scavenge()
    return { events: removed, ms: performance.now() - start }
  } finally {
    await db.close()
  }
}

/**
 * Raw classic-level deletes the keys of the removed events, in batches of the same positions as
 * a scavenge's; then, when `compact`, compacts the range from the first key deleted to the last
 * (the whole log, as the removed events are spread through it).
 */
async function rawDeletes (task: ScavengeTask, compact: boolean): Promise<Timing> {
  const raw = new ClassicLevel<Buffer, Buffer>(task.dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await raw.open()
  try {
    const start = performance.now()
    let n = 0
    let first = -1
    let last = -1
    for (let from = 0; from < task.events; from += task.batchPositions) {
      const batch = raw.batch()
      for (let i = from; i < Math.min(from + task.batchPositions, task.events); i++) {
        if (i % task.streams >= task.deleted) continue
        batch.del(key8(i))
        if (first < 0) first = i
        last = i
        n++
      }
      await batch.write()
    }
    if (compact) await raw.compactRange(key8(first), key8(last))
    return { events: n, ms: performance.now() - start }
  } finally {
    await raw.close()
  }
}

serveSides(SIDES, {
  scavenge,
  'raw-deletes': async (task: ScavengeTask) => await rawDeletes(task, false),
  'raw-deletes-compacted': async (task: ScavengeTask) => await rawDeletes(task, true),
  'raw-chunks': rewriteChunks
})
