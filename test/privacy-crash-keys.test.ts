// Crash safety of new subjects' keys: a child registers new data subjects as fast as it can
// (each append seals a personal field under a key made for it, in the key store of the folder,
// under a master key) and is killed with SIGKILL at random moments, many of them between a key's
// write and its event's. After each kill: every event in the log opens (nothing was shredded,
// so no field may read as null: no event is sealed under a key that is missing), every
// acknowledged append is there once where it was acknowledged, positions are contiguous, and
// the key store holds a key for every subject in the log.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { LevelKeyStore, open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { seeded, sleep, waitFor } from './helpers/crash-log.js'

const KILLS = 24

interface Registration { subject: string, stream: string, position: number }

t.test(`new subjects' keys survive ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays)`)
  const { dir, remove } = tempDir('annals-keys-crash-')
  t.teardown(remove)
  const path = join(dir, 'db')
  const masterKey = randomBytes(32)
  const acked: Registration[] = []
  for (let cycle = 0; cycle < KILLS; cycle++) {
    const before = acked.length
    const sync = cycle % 3 === 2
    const child = await startChild('subjects-child.mjs', [path, `c${cycle}`, masterKey.toString('hex'), sync ? 'sync' : 'nosync'], line => acked.push(JSON.parse(line) as Registration))
    await waitFor(child, () => acked.length > before, 'its first acknowledged append')
    await sleep(rng() * 150)
    await kill(child)

    const problems: string[] = []
    const db = await open(path, { masterKey })
    const all = await collect(db.readAll())
    await db.close()
    all.forEach((e, i) => { if (e.position !== i) problems.push(`position ${e.position} at index ${i}`) })
    for (const e of all) {
      const { userId, email } = e.data as { userId: string, email: unknown }
      if (e.redacted !== undefined || email !== `${userId}@example.com`) problems.push(`${e.stream}@${e.revision} (${userId}) reads ${String(email)}, redacted ${JSON.stringify(e.redacted)}`)
    }
    for (const a of acked) {
      const e = all[a.position]
      if (e === undefined || e.stream !== a.stream || (e.data as { userId?: unknown }).userId === undefined) problems.push(`acknowledged ${a.subject} is not at ${a.position}`)
    }
    const inLog = new Set(all.map(e => (e.data as { userId: string }).userId))
    const keys = new LevelKeyStore(join(path, 'keys'), { masterKey })
    for (const subject of inLog) if (await keys.get(subject) === undefined) problems.push(`${subject} is in the log without a key`)
    await keys.close()
    t.same(problems, [], `kill ${cycle + 1} (seed ${seed}${sync ? ', sync' : ''}): ${acked.length - before} appends acknowledged, ${all.length} events, ${inLog.size} subjects`)
    if (problems.length > 0) break
  }
  t.comment(`the children acknowledged ${acked.length} appends in all`)
})
