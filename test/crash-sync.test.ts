// Crash safety of appends with `sync: true`: children open the database with sync (every
// append fsynced), or ask for it on every other append, and retry appends already written
// (idempotent retries with sync, which must give the original result), until they are killed
// with SIGKILL. After each kill: every acknowledged append there once, nothing half-written,
// positions contiguous, each stream's read equal to the log filtered by that stream.
import t from 'tap'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { killAppenders, seeded } from './helpers/crash-log.js'

const KILLS = 24

t.test(`appends with sync survive ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays and modes)`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const { acked } = await killAppenders(t, join(dir, 'db'), {
    kills: KILLS,
    seed,
    rng,
    delay: () => rng() * 200,
    options: cycle => ({ sync: cycle % 2 === 0 ? 'open' : 'some' })
  })
  t.comment(`the children acknowledged ${acked.length} appends in all`)
})
