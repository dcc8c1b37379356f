// An async projection on PostgreSQL whose runner is killed with SIGKILL: a standby process that
// registered the same projection (and followed while the runner held its advisory lock) takes it
// over, and its view ends equal to the fold of the whole log: no event applied twice, none lost.
// Each cycle rebuilds the view from scratch under a new version while the runner appends 4 at a
// time; it is killed at a random moment once the standby is up (by then the runner has mostly
// caught up on the older log: the kill lands while it applies what is being appended, with
// checkpoints behind the head), even cycles only once it said it wrote a checkpoint. Without the
// standby's retries of a lock it found held (session.ts), it never took over (tested: stuck at
// the runner's last checkpoint). Skipped with the reason without a server.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { open, type RecordedEvent } from '../src/index.js'
import { collect, postgresQuery, postgresServer, stopPostgres } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { until } from './helpers/pg-child.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
const url = server.url!

// the fold the view must equal, from the module of the children's handler
const fixture: string = './fixtures/projection-sums.mjs'
const { fold } = await import(fixture) as { fold: (events: RecordedEvent[]) => Array<[string, number]> }

const CYCLES = 4
const schema = 'projkill'

/** A child on the schema, and the last position its view said it had reached. */
async function child (version: number, role: 'runner' | 'standby'): Promise<{ process: ChildProcess, at: () => number }> {
  let at = -1
  const process = await startChild('pg-projection-child.mjs', [url, schema, String(version), role], line => {
    const m = /^at (-?\d+)/.exec(line)
    if (m !== null) at = Number(m[1])
  })
  return { process, at: () => at }
}

t.test(`the runner of an async projection killed ${CYCLES} times: a standby process takes over, its view equals the fold`, { skip }, async t => {
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  // a log to catch up on from the start
  const db = await open({ postgres: url, schema })
  for (let i = 0; i < 20; i++) {
    await Promise.all(Array.from({ length: 500 }, async (_, k) => await db.append(`s${k % 7}`, { type: 'Added', data: { n: k } })))
  }
  await db.close()
  const children: ChildProcess[] = []
  t.teardown(async () => { for (const c of children) if (c.exitCode === null && c.signalCode === null) await kill(c) })
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    // the runner takes the projection's lock when it registers; the standby registers after it
    const runner = await child(cycle, 'runner')
    children.push(runner.process)
    const standby = await child(cycle, 'standby')
    children.push(standby.process)
    if (cycle % 2 === 0) t.ok(await until(() => runner.at() >= 0, 60_000), `cycle ${cycle}: the runner wrote a checkpoint`)
    await new Promise(resolve => setTimeout(resolve, Math.random() * 100))
    const killedAt = runner.at()
    await kill(runner.process)
    // the server ends the killed runner's sessions on its own time (a commit it had received may
    // still land); once they are gone the log stops growing
    t.ok(await until(async () => Number((await postgresQuery(`select count(*) as n from pg_stat_activity where application_name = 'annals-runner'`))[0]?.n) === 0, 10_000), `cycle ${cycle}: the runner's connections are gone`)
    const head = Number((await postgresQuery<{ position: string }>(`select position from ${schema}.head`))[0]!.position)
    const tookOver = await until(() => standby.at() >= head, 60_000)
    t.ok(tookOver, `cycle ${cycle}: the standby took over (the runner was killed at ${killedAt}; the standby is at ${standby.at()} of ${head})`)
    const reader = await open({ postgres: url, schema })
    const expected = fold(await collect(reader.readAll()))
    await reader.close()
    const docs = await postgresQuery<{ key: string, doc: number }>(`select key, doc from ${schema}.view_documents('sums')`)
    t.same(docs.map(d => [d.key, Number(d.doc)]), expected, `cycle ${cycle}: the standby's view equals the fold of the ${head + 1} events (count ${expected.find(([k]) => k === 'count')?.[1]})`)
    await kill(standby.process)
    if (!tookOver) break
  }
})
