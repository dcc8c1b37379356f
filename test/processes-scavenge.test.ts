// A scavenge asked for by a client and made by its owner, which is killed with SIGKILL in the
// middle of it while it appends: the client takes the database over and finishes the scavenge
// (its call resolves); its reads are right (every event that read before and every append the
// owner acknowledged, nothing removed), a second scavenge completes, no byte of a removed event
// is left in the files, and verify finds no problem. The database is the one of
// test/helpers/scavenge-crash.ts (thousands of events removed by every rule of streams' lives).
import t from 'tap'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { LevelDoor } from '../src/backend/level/door.js'
import { verifyStorage } from '../src/cli/verify-checks.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { build, readsAfterKill, type Ack } from './helpers/scavenge-crash.js'
import { scanMarkers } from './helpers/scan.js'

const KILLS = 3


t.test(`a client's scavenge whose owner is killed in the middle of it, ${KILLS} times: the client finishes it`, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const template = join(dir, 'template')
  const { reads, removed } = await build(template)

  // how long a scavenge takes here, so that the kills come in the middle of one
  const probe = join(dir, 'probe')
  cpSync(template, probe, { recursive: true })
  let db = await open(probe)
  let started = Date.now()
  t.equal((await db.scavenge()).removed, removed.size)
  const duration = Date.now() - started
  await db.close()

  let midways = 0
  for (let cycle = 1; cycle <= KILLS; cycle++) {
    const path = join(dir, `cycle-${cycle}`)
    cpSync(template, path, { recursive: true })
    const acked: Ack[] = []
    const owner = await startChild('scavenge-child.mjs', [path, `c${cycle}`, 'append-only'], line => { acked.push(JSON.parse(line) as Ack) })
    t.teardown(async () => { if (owner.exitCode === null && owner.signalCode === null) await kill(owner) })
    db = await open(path, { failoverTimeout: 10_000 })
    t.equal(db.role, 'client')
    let reported = 0
    started = Date.now()
    const scavenging = db.scavenge({ onProgress: () => { reported++ } })
    let settled = false
    void scavenging.finally(() => { settled = true }).catch(() => {})
    // in the middle of it: the first kill at a third of its time, the others further on
    await new Promise(resolve => setTimeout(resolve, duration * cycle / (KILLS + 2)))
    const midway = !settled
    if (midway) midways++
    await kill(owner)
    const report = await scavenging
    t.equal(db.role, 'owner', `kill ${cycle}: the client took the database over`)
    t.ok(report.removed <= removed.size, `kill ${cycle}: the scavenge ended on the new owner (${report.removed} removed by its last pass; ${reported} progress reports)`)

    const problems: string[] = []
    const all = await readsAfterKill(db, reads, acked, `c${cycle}-`, problems)
    const second = await db.scavenge()
    t.equal(second.removed, 0, `kill ${cycle}: nothing left for a second scavenge to remove`)
    t.same(await collect(db.readAll()), all, `kill ${cycle}: the second scavenge changes no read`)
    await db.close()

    const door = await LevelDoor.openPath(path)
    const verified = await verifyStorage(door, () => {})
    await door.close()
    problems.push(...verified.problems.map(p => `verify: ${p.message}`))
    const left = [...scanMarkers(path, removed)]
    if (left.length > 0) problems.push(`${left.length} markers of removed events are still in the files`)
    t.same(problems, [], `kill ${cycle} after ${Date.now() - started} ms, ${midway ? 'in the middle of the scavenge' : 'after it ended'}: ${acked.length} appends acknowledged by the owner`)
  }
  t.ok(midways >= 1, `${midways} of ${KILLS} kills came in the middle of the scavenge`)
})
