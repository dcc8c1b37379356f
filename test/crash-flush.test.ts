// Crash safety near the writes of the streams' blocks: the children write them every few
// dozen events (instead of every 8,192), so that kills -9 land in and around those batches.
// After each kill: every acknowledged append there once, nothing half-written, positions
// contiguous, each stream's read (blocks on disk, and the tail rebuilt from the log at open)
// equal to the log filtered by that stream.
import t from 'tap'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { killAppenders, rawIndexedUpTo, seeded } from './helpers/crash-log.js'

const KILLS = 24

t.test(`stream blocks written every few dozen events survive ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays and thresholds)`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  let flushed = 0
  const markers: number[] = []
  const { killed } = await killAppenders(t, join(dir, 'db'), {
    kills: KILLS,
    seed,
    rng,
    delay: () => rng() * 120,
    options: () => ({ flushEvents: 16 + Math.floor(rng() * 48) }),
    // the parent's close writes every block, so the marker is at the end of the log before each
    // child: past it after the kill, the child wrote blocks; short of the end, a tail to rebuild
    async inspect (path, before) {
      const marker = await rawIndexedUpTo(path)
      if (marker > before - 1) flushed++
      markers.push(marker)
      return `blocks up to ${marker}`
    }
  })
  const tails = killed.filter((k, i) => k.events - 1 > markers[i]!).length
  t.ok(flushed >= killed.length / 2, `the killed children wrote blocks in ${flushed} of ${killed.length} runs`)
  t.ok(tails > 0, `${tails} kills left events after the last blocks, rebuilt from the log at open`)
})
