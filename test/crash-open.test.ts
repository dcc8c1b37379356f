// Crash safety of `open`: a database whose last tens of thousands of events were never copied
// into the streams' blocks (its children never write them), so that every open rebuilds that
// tail from the log, after LevelDB has replayed its write-ahead log. Children are killed with
// SIGKILL while they open it, most of the time, or just after, while they append. After each
// kill, a copy of the folder is checked (opening the folder itself would write the blocks at
// close, and the next child would have no tail to rebuild): every acknowledged append there
// once, nothing half-written, positions contiguous, each stream's read equal to the log
// filtered by that stream.
import t from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { checkLog, copyFolder, rawIndexedUpTo, seeded, sleep, waitFor, type Ack } from './helpers/crash-log.js'

const KILLS = 24
/** Events the log holds before the first kill, all of them in the tail. */
const START = 8000

t.test(`opening a database with a long tail to rebuild survives ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays)`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const acked: Ack[] = []
  const childProblems: string[] = []
  let opened: number | undefined
  const onLine = (line: string): void => {
    if (line.startsWith('opened ')) opened = Number(line.slice(7))
    else if (line.startsWith('problem')) childProblems.push(line)
    else acked.push(JSON.parse(line) as Ack)
  }
  // a first child appends the tail that every open after it rebuilds
  const first = await startChild('open-child.mjs', [path, 'start'], onLine)
  await waitFor(first, () => acked.reduce((n, a) => n + a.size, 0) >= START, `${START} events were acknowledged`)
  await kill(first)

  let openTime = 100
  let duringOpen = 0
  const tails: number[] = []
  for (let cycle = 0; cycle < KILLS; cycle++) {
    const before = acked.length
    opened = undefined
    // mostly within the open (as long as the last ones took), sometimes after it
    const delay = rng() < 0.75 ? rng() * 1.2 * openTime : openTime + rng() * 150
    const child = await startChild('open-child.mjs', [path, `c${cycle}`], onLine)
    await sleep(delay)
    await kill(child)
    if (opened === undefined) duringOpen++
    else openTime = Math.max(50, opened)

    const copy = join(dir, `copy-${cycle}`)
    copyFolder(path, copy)
    const marker = await rawIndexedUpTo(copy)
    const db = await open(copy)
    const { problems, all } = await checkLog(db, acked)
    await db.close()
    rmSync(copy, { recursive: true, force: true })
    problems.push(...childProblems)
    const tail = all.length - 1 - marker
    tails.push(tail)
    t.same(problems, [], `kill ${cycle + 1} (seed ${seed}) ${opened === undefined ? `during the open, after ${Math.round(delay)} ms` : `${Math.round(delay - opened)} ms after the open (${opened} ms)`}: ` +
      `${acked.length - before} appends acknowledged, ${all.length} events in the log, ${tail} of them in the tail`)
    if (problems.length > 0) break
  }
  t.ok(duringOpen >= KILLS / 3, `${duringOpen} of ${KILLS} kills came during the open`)
  t.ok(tails.every(n => n >= START), `every open rebuilt a tail of at least ${START} events (${Math.min(...tails)} to ${Math.max(...tails)})`)
})
