// A shred interrupted by SIGKILL completes on the next open, and never leaves a subject whose
// key is gone without the record of its shred.
import t from 'tap'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { LevelKeyStore, open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

const KILLS = 16

t.test(`shreds survive ${KILLS} kills -9`, async t => {
  const { dir, remove } = tempDir('annals-shred-crash-')
  t.teardown(remove)
  const path = join(dir, 'db')
  const acked = new Set<string>()
  const subjects: string[] = []
  for (let cycle = 0; cycle < KILLS; cycle++) {
    const tag = `c${cycle}`
    subjects.push(...Array.from({ length: 40 }, (_, i) => `${tag}-${i}`))
    const child = await startChild('shred-child.mjs', [path, tag], line => {
      if (line.startsWith('shredded ')) acked.add(line.slice(9))
    })
    await new Promise(resolve => setTimeout(resolve, Math.random() * 60))
    await kill(child)

    // open (which finishes interrupted shreds), read, close
    const db = await open(path)
    const redacted = new Set((await collect(db.readAll())).filter(e => e.redacted !== undefined).map(e => e.stream))
    await db.close()
    // then look at the raw state: shred records and intents, and the keys
    const level = new ClassicLevel<string, string>(path)
    const records = new Set((await level.keys({ gt: 'Kshredded/', lt: 'Kshredded0' }).all()).map(k => k.slice('Kshredded/'.length)))
    const intents = await level.keys({ gt: 'Kintent/', lt: 'Kintent0' }).all()
    await level.close()
    const keyStore = new LevelKeyStore(join(path, 'keys'))
    const problems: string[] = []
    for (const s of subjects) {
      const hasKey = await keyStore.get(s) !== undefined
      if (!hasKey && !records.has(s)) problems.push(`${s}: key gone without a shred record`)
      if (hasKey && records.has(s)) problems.push(`${s}: recorded as shredded, key still there`)
      if (acked.has(s) && (hasKey || !redacted.has(s))) problems.push(`${s}: acknowledged shred not done`)
      if (redacted.has(s) !== records.has(s)) problems.push(`${s}: reads ${redacted.has(s) ? '' : 'not '}redacted`)
    }
    await keyStore.close()
    t.same({ problems, intents }, { problems: [], intents: [] }, `kill ${cycle + 1}: ${acked.size} shreds acknowledged, ${records.size} recorded`)
    if (problems.length > 0) break
  }
  t.ok(acked.size > 0 && acked.size < subjects.length, `some shreds were interrupted (${acked.size} of ${subjects.length} acknowledged)`)
})
