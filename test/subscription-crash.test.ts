// Crash safety of durable subscriptions: a process runs a named subscription that writes its
// checkpoint after every event (`checkpoint: { events: 1 }`) while it appends, and reports each
// event its handler handles before the handler returns; it is killed with SIGKILL at random
// moments, and the next process resumes. At the end one more catches up and closes. Across all
// of them, every event of the log is handled, in order, at least once, and only the event in
// flight at a kill may be handled twice (once before the kill, once after).
import t from 'tap'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { seeded, sleep, waitFor } from './helpers/crash-log.js'

const KILLS = 24

interface Handled { position: number, id: string }

t.test(`a durable subscription survives ${KILLS} kills -9`, async t => {
  const { seed, rng } = seeded()
  t.comment(`seed ${seed} (CRASH_SEED=${seed} replays the delays)`)
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const runs: Handled[][] = []
  let finished = false
  const run = async (tag: string, mode: 'run' | 'finish', delay: number): Promise<void> => {
    const handled: Handled[] = []
    runs.push(handled)
    const child = await startChild('subscriber-child.mjs', [path, tag, mode], line => {
      if (line === 'finished') finished = true
      const [word, position, id] = line.split(' ') as [string, string, string]
      if (word === 'handled') handled.push({ position: Number(position), id })
    })
    if (mode === 'finish') {
      await new Promise(resolve => child.once('close', resolve))
      return
    }
    // once it handles events, however loaded the machine
    await waitFor(child, () => handled.length > 0, 'its first handled event')
    await sleep(delay)
    await kill(child)
  }
  for (let cycle = 0; cycle < KILLS; cycle++) await run(`c${cycle}`, 'run', rng() * 150)
  await run('last', 'finish', 0)
  t.ok(finished, 'the last process caught up and closed')

  const db = await open(path)
  const log = await collect(db.readAll())
  await db.close()
  const problems: string[] = []
  let last = -1 // the last position handled so far
  let again = 0
  runs.forEach((handled, i) => {
    handled.forEach((h, k) => {
      const want = k === 0 ? last + 1 : handled[k - 1]!.position + 1
      if (k === 0 && h.position === last && last >= 0) again++
      else if (h.position !== want) problems.push(`run ${i} handled ${h.position} after ${k === 0 ? `${last} (the last of the runs before)` : handled[k - 1]!.position}`)
      if (log[h.position]?.id !== h.id) problems.push(`run ${i} handled ${h.id} as position ${h.position}, which holds ${log[h.position]?.id}`)
      last = Math.max(last, h.position)
    })
  })
  if (last !== log.length - 1) problems.push(`handled up to ${last} of ${log.length - 1}`)
  t.same(problems, [], `${runs.reduce((n, h) => n + h.length, 0)} events handled in ${runs.length} runs, ${log.length} in the log (seed ${seed})`)
  t.ok(again > 0, `${again} of ${KILLS} kills came while an event was in flight: it was handled again, and no other`)
})
