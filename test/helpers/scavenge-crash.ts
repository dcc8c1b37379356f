// Crash safety of scavenging (run by test/scavenge-crash-*.test.ts, half the kills each, so that
// each file stays inside tap's timeout on a busy machine): a child process scavenges a database with thousands of removed
// events (deleted, tombstoned, truncated, expired by count and by age; their snapshots and view
// history) while it appends to it, and is killed with SIGKILL at a random moment of the
// scavenge, 20 times in all, each on a fresh copy of the same database. After each kill: every event
// that read before and every acknowledged append reads exactly, and nothing removed reads again;
// a second scavenge then completes the removal (no byte of a removed event is left in the
// files) and verify finds no problem.
import t from 'tap'
import { cpSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { defineAggregate, defineProjection, open, type Annals, type RecordedEvent } from '../../src/index.js'
import { LevelDoor } from '../../src/backend/level/door.js'
import { verifyStorage } from '../../src/cli/verify-checks.js'
import { collect, tempDir } from './backends.js'
import { kill, startChild } from './child.js'
import { marker, scanMarkers } from './scan.js'


/** An append a child acknowledged. */
export interface Ack { id: string, stream: string, revision: number, position: number }

const Markers = defineAggregate<number>({ name: 'markers', initial: () => 0, evolve: n => n + 1, snapshotEvery: 50 })
const Last = defineProjection<string>({
  name: 'last',
  mode: 'inline',
  async handle (event, view) {
    if (event.type === '$StreamDeleted' || event.type === '$StreamTombstoned') view.del((event.data as { stream: string }).stream)
    else if (event.type === 'Marked' && !event.stream.startsWith('old-')) view.put(event.stream, (event.data as { marker: string }).marker)
  }
})

/** The fields a read must give exactly. */
export function fields (e: RecordedEvent): unknown {
  return { id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, data: e.data, metadata: e.metadata, time: e.time, tags: e.tags }
}

/** Builds the database every cycle starts from; resolves with what reads and the markers of what does not. */
/**
 * Reads the whole log after a kill and adds to `problems` what is wrong: an event of `reads`
 * (what read before) that does not read as it did, an acknowledged append not where its answer
 * said, an event that reads though it was removed (not of `reads`, and its id not starting with
 * `appended`, the prefix of the ids the killed process gave), a stream whose read disagrees
 * with the log. Returns the log as it reads.
 */
export async function readsAfterKill (db: Annals, reads: readonly RecordedEvent[], acked: readonly Ack[], appended: string, problems: string[]): Promise<RecordedEvent[]> {
  const all = await collect(db.readAll())
  const byId = new Map(all.map(e => [e.id, e]))
  for (const e of reads) if (!byId.has(e.id) || !isDeepStrictEqual(fields(byId.get(e.id)!), fields(e))) problems.push(`${e.stream}@${e.revision} does not read as it did`)
  for (const a of acked) {
    const e = byId.get(a.id)
    if (e?.stream !== a.stream || e.revision !== a.revision || e.position !== a.position) problems.push(`acknowledged ${a.id} is not at ${a.stream}@${a.revision}`)
  }
  const before = new Set(reads.map(e => e.id))
  for (const e of all) if (!before.has(e.id) && !e.id.startsWith(appended)) problems.push(`${e.stream}@${e.revision} reads, which was removed`)
  for (const stream of new Set(all.map(e => e.stream))) {
    if (!isDeepStrictEqual(await collect(db.readStream(stream)), all.filter(e => e.stream === stream))) problems.push(`readStream(${stream}) disagrees with readAll`)
  }
  return all
}

export async function build (path: string): Promise<{ reads: RecordedEvent[], removed: Set<string> }> {
  const db = await open(path)
  await db.project(Last)
  const written = new Map<string, string[]>()
  const fill = async (stream: string, n: number): Promise<void> => {
    const list: string[] = []
    for (let i = 0; i < n; i += 50) {
      await db.append(stream, Array.from({ length: Math.min(50, n - i) }, (_, k) => {
        const m = marker()
        list.push(m)
        return { type: 'Marked', data: { marker: m }, ...(k % 3 === 0 ? { tags: [`n:${k % 7}`] } : {}) }
      }))
    }
    written.set(stream, [...written.get(stream) ?? [], ...list])
  }
  for (let round = 0; round < 1; round++) {
    for (let i = 0; i < 5; i++) await fill(`keep-${i}`, 300)
    for (let i = 0; i < 3; i++) await fill(`del-${i}`, 200)
    await fill('tomb-0', 200)
    for (let i = 0; i < 2; i++) await fill(`trunc-${i}`, 300)
    for (let i = 0; i < 2; i++) await fill(`ret-${i}`, 300)
    for (let i = 0; i < 2; i++) await fill(`old-${i}`, 100)
  }
  for (const stream of written.keys()) await db.load(Markers, stream)
  await new Promise(resolve => setTimeout(resolve, 5))
  for (let i = 0; i < 3; i++) await db.deleteStream(`del-${i}`)
  await db.tombstoneStream('tomb-0')
  for (let i = 0; i < 2; i++) await db.truncateStream(`trunc-${i}`, { before: 220 })
  for (let i = 0; i < 2; i++) await db.setStreamMetadata(`ret-${i}`, { maxCount: 40 })
  await db.setStreamMetadata('old-*', { maxAge: 1 })
  const reads = await collect(db.readAll())
  await db.close()
  const kept = new Set(reads.map(e => (e.data as { marker?: string }).marker))
  return { reads, removed: new Set([...written.values()].flat().filter(m => !kept.has(m))) }
}

/** The test: a scavenge killed `KILLS` times, each on a fresh copy. */
export function scavengeCrash (KILLS: number): void {
  t.test(`a scavenge survives ${KILLS} kills -9: nothing else is lost, and the next one completes it`, async t => {
    const { dir, remove } = tempDir()
    t.teardown(remove)
    const template = join(dir, 'template')
    const { reads, removed } = await build(template)
    t.ok(removed.size > 1500, `the database has ${reads.length} events that read and ${removed.size} that do not`)

    // how long a whole scavenge takes here, so that kills come in the middle of one
    const probe = join(dir, 'probe')
    cpSync(template, probe, { recursive: true })
    const db = await open(probe)
    let started = Date.now()
    t.equal((await db.scavenge()).removed, removed.size)
    let duration = Date.now() - started
    await db.close()
    rmSync(probe, { recursive: true })

    let midway = 0
    let acknowledged = 0
    for (let cycle = 1; cycle <= KILLS; cycle++) {
      const path = join(dir, `cycle-${cycle}`)
      cpSync(template, path, { recursive: true })
      const acked: Ack[] = []
      let finished: number | undefined
      const child = await startChild('scavenge-child.mjs', [path, `c${cycle}`], line => {
        if (line.startsWith('scavenged ')) finished = Number(line.slice(10))
        else acked.push(JSON.parse(line) as Ack)
      })
      started = Date.now()
      await new Promise(resolve => setTimeout(resolve, Math.random() * duration))
      await kill(child)
      // the child's own pace (appending at once), for the next kills to spread over all of it
      if (finished === undefined) {
        midway++
        duration *= 1.15
      } else {
        duration = finished
      }
      acknowledged += acked.length

      const problems: string[] = []
      let db = await open(path)
      const all = await readsAfterKill(db, reads, acked, `c${cycle}-`, problems)
      await db.project(Last)
      await db.scavenge()
      t.same((await collect(db.readAll())), all, `kill ${cycle}: the second scavenge changes no read`)
      await db.close()

      const door = await LevelDoor.openPath(path)
      const report = await verifyStorage(door, () => {})
      await door.close()
      problems.push(...report.problems.map(p => `verify: ${p.message}`))
      const left = [...scanMarkers(path, removed)]
      if (left.length > 0) problems.push(`${left.length} markers of removed events are still in the files after the second scavenge`)
      t.same(problems, [], `kill ${cycle} after ${Date.now() - started} ms, ${finished === undefined ? 'in the middle of the scavenge' : `after it ended (${finished} ms)`}: ${acked.length} appends acknowledged`)
      if (problems.length > 0) break
      db = await open(path)
      await db.close()
      rmSync(path, { recursive: true })
    }
    t.ok(midway >= KILLS / 2, `${midway} of ${KILLS} kills came in the middle of a scavenge`)
    t.ok(acknowledged > KILLS, `the children acknowledged ${acknowledged} appends while they scavenged`)
  })
}
