// Crash safety of the recovery of shreds: a child registers 40 subjects and shreds them in one
// call, and is killed with SIGKILL in the middle of it (their intents recorded, some keys
// erased); then children that open the database, which finishes the interrupted shreds, are
// killed in the middle of that open. After each round a copy of the folder is checked, as it is
// and once annals opened it (opening the folder itself would finish every shred, leaving the
// next children nothing to recover): no key gone without the record or the intent of its
// shred, none recorded as shredded with its key still there, every acknowledged shred done,
// and once open, no intent left, every intent's shred done, reads redacted exactly for the
// subjects recorded as shredded.
import t from 'tap'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { LevelKeyStore, open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { copyFolder, seeded, sleep, waitFor } from './helpers/crash-log.js'

const ROUNDS = 6
const RECOVERIES = 3
const SUBJECTS = 30

/** The subjects with a shred intent, and those recorded as shredded, in a closed database folder. */
async function shredState (path: string): Promise<{ intents: Set<string>, records: Set<string> }> {
  const level = new ClassicLevel<string, string>(path)
  try {
    const intents = new Set((await level.keys({ gt: 'Kintent/', lt: 'Kintent0' }).all()).map(k => k.slice('Kintent/'.length)))
    const records = new Set((await level.keys({ gt: 'Kshredded/', lt: 'Kshredded0' }).all()).map(k => k.slice('Kshredded/'.length)))
    return { intents, records }
  } finally {
    await level.close()
  }
}

t.test(`interrupted shreds survive ${ROUNDS * RECOVERIES} kills -9 during their recovery`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays)`)
  const { dir, remove } = tempDir('annals-shred-recovery-')
  t.teardown(remove)
  const path = join(dir, 'db')
  const registered = new Set<string>()
  const shreddedTags = new Set<string>()
  const subjects: string[] = []
  let times: { opened?: number, shredding?: number, shredded?: number } = {}
  const onLine = (tag: string) => (line: string): void => {
    const [word, value] = line.split(' ') as [string, string]
    if (word === 'registered') registered.add(value)
    else if (word === 'shredded') { times.shredded = Number(value); shreddedTags.add(tag) } else if (word === 'opened' || word === 'shredding') times[word] = Number(value)
  }
  // learn how long a shred of SUBJECTS subjects takes: a first child does it whole
  let shredTime: number
  {
    subjects.push(...Array.from({ length: SUBJECTS }, (_, i) => `r0-${i}`))
    const child = await startChild('shred-recover-child.mjs', [path, 'r0', 'shred'], onLine('r0'))
    await waitFor(child, () => times.shredded !== undefined, 'its shred was done')
    await kill(child)
    shredTime = times.shredded! - times.shredding!
  }
  let recoveryTime = shredTime
  let recoveriesKilled = 0
  let interrupted = 0
  for (let round = 1; round <= ROUNDS; round++) {
    const tag = `r${round}`
    subjects.push(...Array.from({ length: SUBJECTS }, (_, i) => `${tag}-${i}`))
    times = {}
    const child = await startChild('shred-recover-child.mjs', [path, tag, 'shred'], onLine(tag))
    // its open finishes what is left of the round before; then it registers and shreds
    await waitFor(child, () => times.shredding !== undefined, 'it started its shred')
    await sleep(rng() * 1.1 * shredTime)
    await kill(child)
    // the delays follow how long shreds take
    shredTime = times.shredded === undefined ? shredTime * 1.1 : Math.max(10, times.shredded - times.shredding!)
    const notes: string[] = [times.shredded === undefined ? 'killed in its shred' : 'killed after its shred']
    for (let r = 0; r < RECOVERIES; r++) {
      const look = join(dir, 'look')
      copyFolder(path, look)
      const pending = (await shredState(look)).intents.size
      rmSync(look, { recursive: true, force: true })
      times = {}
      const recovering = await startChild('shred-recover-child.mjs', [path, `${tag}-x${r}`, 'recover'], onLine(`${tag}-x${r}`))
      await sleep(rng() * 1.2 * recoveryTime)
      await kill(recovering)
      // the delays follow how long recoveries take: longer after a kill in the open, else as long as the last
      if (times.opened === undefined && pending > 0) recoveriesKilled++
      recoveryTime = times.opened === undefined ? recoveryTime * 1.3 : Math.max(20, times.opened)
      notes.push(`${pending} intents, ${times.opened === undefined ? 'killed in the open' : `opened in ${times.opened} ms`}`)
    }

    const copy = join(dir, `copy-${round}`)
    copyFolder(path, copy)
    const problems: string[] = []
    const before = await shredState(copy)
    if (before.intents.size > 0) interrupted++
    const keyStore = new LevelKeyStore(join(copy, 'keys'))
    const hadKey = new Map<string, boolean>()
    for (const s of subjects) hadKey.set(s, await keyStore.get(s) !== undefined)
    await keyStore.close()
    for (const s of subjects) {
      const tagOf = s.slice(0, s.lastIndexOf('-'))
      if (before.records.has(s) && hadKey.get(s)!) problems.push(`${s}: recorded as shredded, key still there`)
      if (registered.has(s) && !hadKey.get(s)! && !before.records.has(s) && !before.intents.has(s)) problems.push(`${s}: key gone without the record or the intent of its shred`)
      if (before.records.has(s) && before.intents.has(s)) problems.push(`${s}: both recorded as shredded and still intended`)
      if (shreddedTags.has(tagOf) && (hadKey.get(s)! || !before.records.has(s))) problems.push(`${s}: acknowledged shred not done`)
    }
    // annals finishes the shreds as it opens
    const db = await open(copy)
    const events = await collect(db.readAll())
    await db.close()
    const after = await shredState(copy)
    const keys = new LevelKeyStore(join(copy, 'keys'))
    for (const s of before.intents) {
      if (!after.records.has(s) || await keys.get(s) !== undefined) problems.push(`${s}: its intent was not carried out at open`)
    }
    await keys.close()
    if (after.intents.size > 0) problems.push(`intents left after open: ${[...after.intents].join(', ')}`)
    const inLog = new Set(events.map(e => e.stream))
    for (const s of registered) if (!inLog.has(s)) problems.push(`${s}: acknowledged registration missing`)
    for (const e of events) {
      const shredded = after.records.has(e.stream)
      if (shredded !== (e.redacted !== undefined)) problems.push(`${e.stream}: reads ${shredded ? 'not ' : ''}redacted`)
      if (!shredded && (e.data as { email?: unknown }).email !== `${e.stream}@example.com`) problems.push(`${e.stream}: email reads ${String((e.data as { email?: unknown }).email)}`)
    }
    rmSync(copy, { recursive: true, force: true })
    t.same(problems, [], `round ${round} (seed ${seed}): ${notes.join('; ')}; ${before.intents.size} intents left, ${after.records.size} subjects shredded`)
    if (problems.length > 0) break
  }
  t.ok(interrupted > 0, `${interrupted} of ${ROUNDS} rounds left shreds unfinished`)
  t.ok(recoveriesKilled >= ROUNDS / 2, `${recoveriesKilled} kills came during an open with shreds to recover`)
})
