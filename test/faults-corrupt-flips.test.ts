// Corruption (issue 11): 50 random single-byte flips, each on a fresh copy of a closed database
// of 3,000 events in 30 streams (two thirds in a table file, the rest in the write-ahead log).
// Every read (readAll both ways, readStream of every stream, load of an aggregate folding each
// stream) must return exactly the original events, or a correct prefix and then reject with
// ANNALS_CORRUPT; open may reject with ANNALS_CORRUPT. `annals verify` must report every flip
// that changed data (as LevelDB reads it back). A flip in a table file may instead end the
// process that reads it, by an assertion of LevelDB's (see helpers/damage.ts): never a wrong read. Seeded: FAULTS_SEED=<seed> replays a run's
// damage spots; FAULTS_KEEP=<folder> keeps the damaged copies of failing trials.
import t from 'tap'
import { basename, join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { buildSource, endChildren, inTurn, saveOriginals, sourceDigest, trial } from './helpers/damage.js'
import { below, filesOf, flipByte, LOG_BLOCK, random, seed } from './helpers/faults.js'

// about 40 s of CPU on two cores; room to spare on a loaded machine
t.setTimeout(240_000)

const FLIPS = 50

t.test(`${FLIPS} single-byte flips in table files and the write-ahead log`, async t => {
  const runSeed = seed()
  t.comment(`seed ${runSeed} (replay with FAULTS_SEED=${runSeed})`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  t.teardown(endChildren)
  const source = join(dir, 'source')
  const originals = saveOriginals(await buildSource(source, 'tables-and-log'), join(dir, 'originals'))
  const digest = await sourceDigest(source, dir)
  // Flips in the write-ahead log are kept to its first half. LevelDB drops the rest of a
  // 32 KiB block after a damaged record; damage near the end of the log can thus only lose its
  // tail, which looks exactly like a log that ended there: no store can detect that. With
  // half the log after the damage, what follows reveals what went missing.
  const targets = [
    ...filesOf(source, '.ldb'),
    ...filesOf(source, '.log').map(f => ({ ...f, size: Math.floor(f.size / LOG_BLOCK / 2) * LOG_BLOCK }))
  ].filter(f => f.size > 0)
  t.ok(targets.some(f => f.path.endsWith('.ldb')) && targets.some(f => f.path.endsWith('.log')), 'the source has tables and a write-ahead log')
  const total = targets.reduce((sum, f) => sum + f.size, 0)

  const trials = await inTurn(FLIPS, 3, async i => {
    const rng = random(runSeed + i)
    let offset = below(rng, total)
    const target = targets.find(f => offset < f.size || (offset -= f.size, false))!
    const name = basename(target.path)
    let flip = { before: 0, after: 0 }
    const result = await trial(source, digest, originals, join(dir, `trial-${i}`), `flip-${runSeed}-${i + 1}`, copy => { flip = flipByte(join(copy, name), offset, rng) })
    return { result, where: `byte ${offset} of ${name} ${flip.before} -> ${flip.after}`, table: name.endsWith('.ldb') }
  })
  trials.forEach(({ result, where, table }, i) => {
    // LevelDB reads a table file's blocks without their checksums (classic-level does not ask
    // for them), and a flipped byte in one can reach an assertion of LevelDB's that ends the
    // process: it stops, having read nothing wrong (the reads before it are checked above)
    if (!table) t.same(result.aborted, [], `flip ${i + 1}: ${where}: nothing ended by LevelDB's assertion (the log is read with its checksums)`)
    t.same(result.problems, [], `flip ${i + 1}: ${where} (seed ${runSeed}): data ${result.changed ? 'changed' : 'unchanged'}, ` +
      `${result.detected} reads rejected with ANNALS_CORRUPT, verify ${result.verify === undefined ? 'not run' : `exited ${result.verify}`}`)
  })
  const changed = trials.filter(({ result }) => result.changed).length
  const detected = trials.filter(({ result }) => result.detected > 0).length
  const aborted = trials.filter(({ result }) => result.aborted.length > 0)
  t.comment(`${changed} of ${FLIPS} flips changed data; reads found corruption in ${detected}; LevelDB's assertion ended ${aborted.length}` +
    aborted.map(({ result, where }) => ` (${where}: ${result.aborted.join(', ')})`).join(''))
})
