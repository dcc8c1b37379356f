// Crash safety of projections: a process catching up an async projection (rebuilt from scratch
// each time, under a new version) while appending through an inline one is killed with SIGKILL
// at random moments. After each kill, the inline view must equal the fold of the whole log as
// it is, before anything catches up, and the async view, once caught up, too: no event applied
// twice, none lost.
import t from 'tap'
import { join } from 'node:path'
import { defineProjection, open, type RecordedEvent } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

const KILLS = 12

// the child's handler, the very function: its source is part of the projection's fingerprint
const fixture: string = './fixtures/projection-sums.mjs'
const { handle, fold } = await import(fixture) as { handle: (event: RecordedEvent, view: unknown) => Promise<void>, fold: (events: RecordedEvent[]) => Array<[string, number]> }

t.test(`projections survive ${KILLS} kills -9 during catch-up`, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  // a log to catch up on from the start
  const db = await open(path)
  for (let i = 0; i < 40; i++) {
    await Promise.all(Array.from({ length: 500 }, async (_, k) => await db.append(`s${k % 7}`, { type: 'Added', data: { n: k } })))
  }
  await db.close()
  for (let cycle = 1; cycle <= KILLS; cycle++) {
    // odd cycles are killed at a random moment (often before the first checkpoint); even ones a
    // random moment after the child said its async view had written one, which must be resumed
    let written = -1
    let onWritten: () => void
    const checkpointed = new Promise<void>(resolve => { onWritten = resolve })
    const child = await startChild('projection-child.mjs', [path, String(cycle)], line => {
      const at = /^at (-?\d+)$/.exec(line)
      if (at !== null && Number(at[1]) >= 0) {
        written = Number(at[1])
        onWritten()
      }
    })
    if (cycle % 2 === 0) await checkpointed
    await new Promise(resolve => setTimeout(resolve, (cycle % 2 === 0 ? 0 : 5) + Math.random() * 60))
    await kill(child)

    const db = await open(path)
    const expected = fold(await collect(db.readAll()))
    const inline = await db.project(defineProjection({ name: 'inline-sums', mode: 'inline', handle }))
    const status = inline.status()
    const inlineNow = await collect(inline.query())
    const sums = await db.project(defineProjection({ name: 'sums', version: cycle, handle }))
    const state = sums.status()
    if (cycle % 2 === 0) t.ok(state.position >= written, `kill ${cycle}: the async view resumed from its checkpoint (at ${state.position}, the child had said ${written})`)
    await sums.caughtUp()
    t.same(inlineNow, expected, `kill ${cycle}: the inline view equals the fold (it was at ${status.position})`)
    t.same(await collect(sums.query()), expected, `kill ${cycle}: the async view, killed ${state.state} at ${state.position} of ${expected.at(0)?.[1] ?? 0}, equals the fold once caught up`)
    await db.close()
  }
})
