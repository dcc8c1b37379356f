// Crash safety: a process appending as fast as it can is killed with SIGKILL at random
// moments. After each kill, every acknowledged append must be there, positions contiguous,
// stream indexes in agreement with the log, and no append half-written.
import t from 'tap'
import { join } from 'node:path'
import { open, type RecordedEvent } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

interface Ack { id: string, stream: string, size: number, revision: number, position: number }

const KILLS = 24

t.test(`every acknowledged append survives ${KILLS} kills -9`, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const acked: Ack[] = []
  for (let cycle = 0; cycle < KILLS; cycle++) {
    const before = acked.length
    const child = await startChild('crash-child.mjs', [path, `c${cycle}`], line => acked.push(JSON.parse(line) as Ack))
    await new Promise(resolve => setTimeout(resolve, 5 + Math.random() * 150))
    await kill(child)

    const db = await open(path)
    const all = await collect(db.readAll())
    const problems: string[] = []
    all.forEach((e, i) => { if (e.position !== i) problems.push(`position ${e.position} at index ${i}`) })
    const byId = new Map(all.map(e => [e.id, e]))
    for (const a of acked) {
      for (let k = 0; k < a.size; k++) {
        const e = byId.get(`${a.id}/${k}`)
        const position = a.position - a.size + 1 + k
        if (e?.stream !== a.stream || e.position !== position || e.revision !== a.revision - a.size + 1 + k) {
          problems.push(`acknowledged ${a.id}/${k} is not at ${a.stream}@${position}`)
        }
      }
    }
    // no append is half there, acknowledged or not
    const groups = new Map<string, RecordedEvent[]>()
    for (const e of all) {
      const id = e.id.slice(0, e.id.lastIndexOf('/'))
      groups.set(id, [...groups.get(id) ?? [], e])
    }
    for (const [id, events] of groups) {
      if (events.length !== events[0]!.metadata.of) problems.push(`append ${id} has ${events.length} of ${String(events[0]!.metadata.of)} events`)
    }
    for (const stream of new Set(all.map(e => e.stream))) {
      const read = await collect(db.readStream(stream))
      const fromLog = all.filter(e => e.stream === stream)
      if (JSON.stringify(read) !== JSON.stringify(fromLog)) problems.push(`the index of ${stream} disagrees with the log`)
      if (!read.every((e, i) => e.revision === i)) problems.push(`${stream} has a revision gap`)
      if (await db.revision(stream) !== read.length - 1) problems.push(`revision(${stream}) is wrong`)
    }
    await db.close()
    t.same(problems, [], `kill ${cycle + 1}: ${acked.length - before} appends acknowledged, ${all.length} events in the log`)
    if (problems.length > 0) break
  }
  t.ok(acked.length > KILLS * 10, `the children acknowledged ${acked.length} appends in all`)
})
