// Crash safety: a process appending as fast as it can is killed with SIGKILL at random
// moments. After each kill, every acknowledged append must be there, positions contiguous,
// stream indexes in agreement with the log, and no append half-written.
import t from 'tap'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { killAppenders, seeded } from './helpers/crash-log.js'

const KILLS = 24

t.test(`every acknowledged append survives ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays)`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const { acked } = await killAppenders(t, join(dir, 'db'), { kills: KILLS, seed, rng, delay: () => rng() * 150, options: () => ({}) })
  t.comment(`the children acknowledged ${acked.length} appends in all`)
})
