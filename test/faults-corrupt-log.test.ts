// Corruption (issue 11): 10 damaged 32 KiB blocks of the write-ahead log, each on a fresh copy
// of a closed database of 3,000 events in 30 streams held in that log. LevelDB skips a block
// it cannot read when it recovers the log, so the events and index entries it held vanish.
// Every read (readAll both ways, readStream of every stream, load of an aggregate folding each
// stream) must return exactly the original events, or a correct prefix and then reject with
// ANNALS_CORRUPT; open may reject with ANNALS_CORRUPT. `annals verify` must report each.
// Seeded: FAULTS_SEED=<seed> replays a run's damage spots; FAULTS_KEEP=<folder> keeps the
// damaged copies of failing trials.
import t from 'tap'
import { basename, join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { buildSource, endChildren, inTurn, saveOriginals, sourceDigest, trial } from './helpers/damage.js'
import { below, damageBlock, filesOf, LOG_BLOCK, random, seed } from './helpers/faults.js'

const BLOCKS = 10

t.test(`${BLOCKS} damaged blocks of the write-ahead log`, async t => {
  const runSeed = seed()
  t.comment(`seed ${runSeed} (replay with FAULTS_SEED=${runSeed})`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  t.teardown(endChildren)
  const source = join(dir, 'source')
  const originals = saveOriginals(await buildSource(source, 'log'), join(dir, 'originals'))
  const digest = await sourceDigest(source, dir)
  const logs = filesOf(source, '.log')
  t.equal(logs.length, 1, 'the events are in one write-ahead log')
  t.same(filesOf(source, '.ldb'), [], 'and in no table')
  const log = logs[0]!
  const blocks = Math.ceil(log.size / LOG_BLOCK)
  // Only blocks of the log's first half are damaged. Damage in the last block can only lose the
  // tail of the log, which looks exactly like a log that ended earlier: no store can detect
  // that. Here half the log follows the damage, and reveals what went missing.
  const candidates = Math.floor(blocks / 2)
  t.ok(candidates >= BLOCKS, `the log has ${blocks} blocks`)

  const trials = await inTurn(BLOCKS, 3, async i => {
    const rng = random(runSeed + i)
    const block = below(rng, candidates)
    return { block, result: await trial(source, digest, originals, join(dir, `trial-${i}`), `block-${runSeed}-${i + 1}`, copy => { damageBlock(join(copy, basename(log.path)), block, rng) }) }
  })
  trials.forEach(({ block, result }, i) => {
    t.ok(result.changed, `damage ${i + 1}: block ${block} of ${blocks} (seed ${runSeed}): LevelDB lost data`)
    t.same(result.aborted, [], `damage ${i + 1}: nothing ended by LevelDB's assertion (the log is read with its checksums)`)
    t.same(result.problems, [], `damage ${i + 1}: block ${block} of ${blocks} (seed ${runSeed}): ` +
      `${result.detected} reads rejected with ANNALS_CORRUPT, verify ${result.verify === undefined ? 'not run' : `exited ${result.verify}`}`)
  })
  const detected = trials.filter(({ result }) => result.detected > 0).length
  t.comment(`reads found corruption in ${detected} of ${BLOCKS} damaged logs`)
})
