// Commits reach a client whose appends are under way: the owner keeps them for it until its
// next message (src/net/server.ts, Client.commit), so this test keeps a client's appends under
// way all along while another client appends. The client must still hear of every commit,
// once and in order (its live subscription gets every event of both), and of the commit that
// holds its own append before the append's answer (its head covers the append at once).
import t from 'tap'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

const OTHERS = 300

t.test('a client whose appends are always under way hears of every commit, in order, and of its own before their answers', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const owner = await startChild('hold-open.mjs', [path])
  t.teardown(async () => { await kill(owner) })
  const db = await open(path)
  t.teardown(async () => { await db.close() })
  t.equal(db.role, 'client')

  const seen: number[] = []
  const sub = db.subscribe({ from: 0 }, async e => { seen.push(e.position) })
  t.teardown(async () => { await sub.close() })

  // the other client: OTHERS appends, one at a time
  let othersDone!: () => void
  const othersFinished = new Promise<void>(resolve => { othersDone = resolve })
  const other = await startChild('process-appender.mjs', [path, 'other', String(OTHERS)], line => {
    if (line.startsWith('done')) othersDone()
  }, { stdin: true })
  t.teardown(async () => {
    // it stops when told to (a client's open connection keeps it alive past its input's end)
    const gone = new Promise(resolve => other.once('close', resolve))
    other.stdin!.write('stop\n')
    await gone
  })

  // this client: 8 callers, each appending again as soon as its append is answered
  let stop = false
  let mine = 0
  const behind: string[] = []
  const caller = async (k: number): Promise<void> => {
    while (!stop) {
      const r = await db.append(`mine-${k}`, { type: 'Mine', data: { k } })
      mine++
      const { position } = await db.head()
      if (position < r.position) behind.push(`head ${position} behind the append at ${r.position}`)
    }
  }
  const callers = Promise.all(Array.from({ length: 8 }, async (_, k) => { await caller(k) }))
  other.stdin!.write('go\n')
  await othersFinished
  stop = true
  await callers

  const { position: head } = await db.head()
  t.equal(head, OTHERS + mine - 1, 'the head covers every append of both clients')
  t.same(behind, [], 'the head covers each append of this client when its answer comes')
  const deadline = Date.now() + 10_000
  while (seen.length < head + 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  t.same(seen, Array.from({ length: head + 1 }, (_, p) => p), 'the live subscription got every event once, in order')
})
