// Many writers on one PostgreSQL database: processes appending at once with expected revisions,
// a transaction held open across others' commits, kill -9 at random moments, inline
// projections run by two processes. Skipped with the reason where there is no server.
import t from 'tap'
import pg from 'pg'
import { defineProjection, open, type Annals, type RecordedEvent } from '../src/index.js'
import { encode } from '../src/storage/codec.js'
import { eventSum } from '../src/backend/postgres/rows.js'
import { collect, postgresQuery, postgresServer, stopPostgres } from './helpers/backends.js'
import { PgChild, until } from './helpers/pg-child.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
const url = server.url!

interface Win { stream: string, expected: number | 'no_stream', revision: number, position: number }

t.test('four processes append with expected revisions to shared streams: one winner per conflict, positions contiguous, every event read back by every process', { skip }, async t => {
  const schema = 'writers4'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  // they open a new database at once: one of them makes it
  const children = await Promise.all([0, 1, 2, 3].map(async () => await PgChild.start(url, schema)))
  t.teardown(async () => { for (const c of children) await c.kill() })
  const ROUNDS = 25
  const STREAMS = 3
  const outcomes = await Promise.all(children.map(async (c, i) => await c.ask<{ wins: Win[], refused: number }>('contend', { tag: `p${i}`, rounds: ROUNDS, streams: STREAMS })))
  const wins = outcomes.flatMap(o => o.wins)
  const refused = outcomes.reduce((n, o) => n + o.refused, 0)
  t.equal(wins.length + refused, 4 * ROUNDS * (STREAMS + 1), 'every append won or was refused')
  t.ok(refused > ROUNDS * 3, `appends were refused (${refused}): the processes did contend`)
  for (let r = 0; r < ROUNDS; r++) t.equal(wins.filter(w => w.stream === `race-${r}`).length, 1, `race-${r}: exactly one of four won`)
  for (let i = 0; i < STREAMS; i++) {
    const mine = wins.filter(w => w.stream === `shared-${i}`).sort((a, b) => a.revision - b.revision)
    t.same(mine.map(w => w.revision), mine.map((_, k) => k), `shared-${i}: one winner per revision, none missing`)
    t.ok(mine.every(w => w.expected === w.revision - 1), `shared-${i}: each won with the revision it expected`)
  }
  const positions = wins.map(w => w.position).sort((a, b) => a - b)
  t.same(positions, positions.map((_, k) => k), 'positions from 0, without gaps, one per win')
  // every process reads back every event, the same
  const reads = await Promise.all(children.map(async c => await c.ask<{ count: number, hash: string }>('readAll')))
  t.same(new Set(reads.map(r => JSON.stringify(r))).size, 1, 'the four read the same log')
  t.equal(reads[0]!.count, wins.length)
  const db = await open({ postgres: url, schema })
  const all = await collect(db.readAll())
  t.same(all.map(e => e.position), all.map((_, k) => k))
  t.equal(all.length, wins.length, 'the log holds the winners and nothing else')
  for (const w of wins) {
    const e = all[w.position]!
    if (e.stream !== w.stream || e.revision !== w.revision) t.fail(`position ${w.position} holds ${e.stream}@${e.revision}, not ${w.stream}@${w.revision}`)
  }
  await db.close()
})

t.test('a transaction held open with the head locked: other writers wait, and no subscription or readAll passes over its positions', { skip }, async t => {
  const schema = 'held'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: url, schema })
  t.teardown(async () => { await db.close() })
  await db.append('before', [{ type: 'B' }, { type: 'B' }])
  const seen: RecordedEvent[] = []
  const sub = db.subscribe({ from: 0 }, async e => { seen.push(e) })
  const writers = await Promise.all([0, 1].map(async () => await PgChild.start(url, schema)))
  t.teardown(async () => { for (const c of writers) await c.kill() })

  // the held transaction: what an appending process does under the lock, then a long pause before commit
  const held = new pg.Client({ connectionString: url })
  await held.connect()
  t.teardown(async () => { await held.end() })
  await held.query('begin')
  const prepared = (await held.query(`select * from ${schema}.prepare($1::text[], $2::text[], $3::jsonb)`, [['held'], [], '[]'])).rows as Array<{ o_kind: number, o_position: string, o_revision: string }>
  const first = Number(prepared.find(r => r.o_kind === 0)!.o_position) + 1
  const time = Number(prepared.find(r => r.o_kind === 5)!.o_revision)
  const data = encode({ held: true })
  const sum = eventSum({ stream: 'held', revision: 0, id: 'held-0', type: 'Held', version: 1, tags: null, data, metadata: null, sealed: false, digest: null })
  await held.query(`select ${schema}.write($1::bigint, $2::bigint, $3::text, $4::text[], $5::bigint[], $6::text[], $7::text[], $8::integer[], $9::integer[], $10::integer[],
    $11::bytea[], $12::bytea[], $13::boolean[], $14::bytea[], $15::integer[], $16::text[], $17::integer[], $18::text[], $19::bigint[], $20::integer[],
    $21::bytea[], $22::bytea[], $23::text[], $24::bytea[], $25::text)`,
  [first, time, null, ['held'], [0], ['held-0'], ['Held'], [1], [1], [0], [data], [null], [false], [null], [sum], [], [], ['held'], [0], [0], [], [], [], [], `annals.${schema}`])

  // meanwhile others append from two processes and this one, and read
  const appends = [
    ...writers.map(async (c, i) => await Promise.all([0, 1, 2].map(async k => await c.ask<{ position: number }>('append', { stream: `w${i}`, events: [{ type: 'W', data: k }] })))),
    Promise.all([0, 1].map(async k => await db.append('here', { type: 'H', data: k })))
  ]
  let done = false
  void Promise.all(appends).then(() => { done = true })
  const reads: number[][] = []
  const pause = Date.now() + 800
  while (Date.now() < pause) {
    reads.push((await collect(db.readAll())).map(e => e.position))
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.notOk(done, 'no other append committed while the head was locked')
  t.ok(reads.every(r => r.length === 2 && r[1] === 1), 'reads saw the log up to the lock, and nothing past it')
  await held.query('commit')
  const results = (await Promise.all(appends)).flat()
  t.ok(results.every(r => r.position > first), 'the appends that waited come after the held one')
  const total = 2 + 1 + 3 * 2 + 2
  t.ok(await until(() => seen.length === total), 'the subscription caught up')
  await sub.close()
  t.same(seen.map(e => e.position), Array.from({ length: total }, (_, k) => k), 'the subscription saw every position once, in order')
  t.equal(seen[first]!.id, 'held-0', 'the held transaction\'s event at its position')
  const all = await collect(db.readAll())
  t.same(all.map(e => e.id), seen.map(e => e.id), 'readAll gives the same')
})

interface Ack { id: string, stream: string, size: number, revision: number, position: number }

const KILLS = 20

t.test(`every acknowledged append survives ${KILLS} kills -9 of the writing process`, { skip }, async t => {
  const schema = 'killed'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  let acked: Ack[] = []
  for (let cycle = 0; cycle < KILLS; cycle++) {
    const before = acked.length
    const child = await PgChild.start(url, schema)
    void child.ask('spin', { tag: `c${cycle}` }).catch(() => {})
    // once it is writing, at a random moment
    await until(() => child.heard.length > 0, 2000)
    await new Promise(resolve => setTimeout(resolve, Math.random() * 200))
    await child.kill()
    acked = acked.concat(child.heard.flatMap(h => h.ack === undefined ? [] : [h.ack]))
    // the server ends the killed child's sessions on its own time: a commit it had received may
    // still land, after this process read the head (then readAll stops short of what readStream
    // sees). Wait until no other session works.
    await until(async () => Number((await postgresQuery(`select count(*) as n from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend' and state <> 'idle'`))[0]?.n) === 0, 5000)
    const db = await open({ postgres: url, schema })
    const problems = await check(db, acked)
    await db.close()
    t.same(problems, [], `kill ${cycle + 1}: ${acked.length - before} appends acknowledged`)
    if (problems.length > 0) break
  }
  t.ok(acked.length > KILLS * 10, `the children acknowledged ${acked.length} appends in all`)
})

/** What is wrong after a kill: acknowledged appends missing, appends half there, streams that disagree with the log. */
async function check (db: Annals, acked: Ack[]): Promise<string[]> {
  const all = await collect(db.readAll())
  const problems: string[] = []
  all.forEach((e, i) => { if (e.position !== i) problems.push(`position ${e.position} at index ${i}`) })
  const byId = new Map(all.map(e => [e.id, e]))
  for (const a of acked) {
    for (let k = 0; k < a.size; k++) {
      const e = byId.get(`${a.id}/${k}`)
      const position = a.position - a.size + 1 + k
      if (e?.stream !== a.stream || e.position !== position || e.revision !== a.revision - a.size + 1 + k) problems.push(`acknowledged ${a.id}/${k} is not at ${a.stream}@${position}`)
    }
  }
  const groups = new Map<string, RecordedEvent[]>()
  for (const e of all) {
    const id = e.id.slice(0, e.id.lastIndexOf('/'))
    groups.set(id, [...groups.get(id) ?? [], e])
  }
  for (const [id, events] of groups) if (events.length !== events[0]!.metadata.of) problems.push(`append ${id} has ${events.length} of ${String(events[0]!.metadata.of)} events`)
  for (const stream of new Set(all.map(e => e.stream))) {
    const read = await collect(db.readStream(stream))
    if (JSON.stringify(read) !== JSON.stringify(all.filter(e => e.stream === stream))) {
      const other = all.filter(e => e.stream === stream)
      const i = read.findIndex((e, k) => JSON.stringify(e) !== JSON.stringify(other[k]))
      problems.push(`the stream ${stream} disagrees with the log: ${read.length} events against ${other.length}; first difference at ${i}: ${JSON.stringify(read[i])} against ${JSON.stringify(other[i])}`)
    }
    if (await db.revision(stream) !== read.length - 1) problems.push(`revision(${stream}) is wrong`)
  }
  return problems
}

t.test('an inline projection run by two processes: the later one follows the first, which applies every event once, until it opens after the first stopped', { skip }, async t => {
  const schema = 'inline2'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const Counts = defineProjection<number>({ name: 'counts', mode: 'inline', handle: async (e, view) => { view.put(e.stream, ((await view.get(e.stream)) ?? 0) + 1) } })
  let db = await open({ postgres: url, schema })
  const child = await PgChild.start(url, schema)
  t.teardown(async () => { await child.kill() })
  t.equal(await child.ask('project'), undefined)
  await child.ask('append', { stream: 's', events: [{ type: 'E' }] })
  await db.append('s', { type: 'E' })
  // the child runs it (under its lock): this process follows, and its appends are not refused
  const counts = await db.project(Counts)
  await db.append('s', { type: 'E' })
  await db.append('other', { type: 'E' })
  await child.ask('append', { stream: 's', events: [{ type: 'E' }] })
  t.equal(await child.ask('project'), 4, 'the first process applied every event once, the others\' too')
  t.equal(await counts.get('s'), 4, 'this process reads the view the other keeps')
  await child.close()
  await db.close()
  db = await open({ postgres: url, schema })
  const again = await db.project(Counts)
  await db.append('s', { type: 'E' })
  t.equal(await again.get('s'), 5, 'opened after the other stopped, this process runs it: each event once')
  t.equal((await collect(db.readStream('s'))).length, 5)
  await db.close()
})

t.test('appends without an expected revision to streams another process moved on are written at their ends in one call', { skip }, async t => {
  const schema = 'loose'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  // this process's calls of the append functions counted, on the pool's connections and the session's
  let calls = 0
  const query = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const text = (args[0] as { text?: unknown } | undefined)?.text
    if (typeof text === 'string' && /\.append(_one)?\(/.test(text)) calls++
    return (query as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof query
  t.teardown(() => { pg.Client.prototype.query = query })
  const db = await open({ postgres: url, schema })
  t.teardown(async () => { await db.close() })
  const child = await PgChild.start(url, schema)
  t.teardown(async () => { await child.kill() })
  await db.appendMany([{ stream: 'a', events: { type: 'A' } }, { stream: 'b', events: { type: 'A' } }])
  // another process moves a on: this process's next append to it finds its revision stale, calls again
  await child.ask('append', { stream: 'a', events: [{ type: 'C' }] })
  calls = 0
  t.same((await db.append('a', { type: 'A' })).revision, 2)
  t.equal(calls, 2, 'the append found a stale and called again')
  // from then on, streams moved on by a few revisions are written where they end, in one call
  await child.ask('append', { stream: 'a', events: [{ type: 'C' }, { type: 'C' }] })
  await child.ask('append', { stream: 'b', events: [{ type: 'C' }] })
  calls = 0
  const results = await Promise.all([
    db.append('a', { type: 'A', data: 1 }),
    db.append('b', { type: 'A', data: 2 }),
    db.appendMany([{ stream: 'a', events: [{ type: 'A', data: 3 }, { type: 'A', data: 4 }] }, { stream: 'c', events: { type: 'A' } }])
  ])
  t.equal(calls, 1, 'one call wrote the group')
  t.same(results.map(r => Array.isArray(r) ? r.map(p => p.revision) : r.revision), [5, 2, [7, 0]], 'the revisions answered are where the events went')
  const a = await collect(db.readStream('a'))
  t.same(a.map(e => [e.revision, e.type, e.data]), [[0, 'A', null], [1, 'C', null], [2, 'A', null], [3, 'C', null], [4, 'C', null], [5, 'A', 1], [6, 'A', 3], [7, 'A', 4]],
    'stream a in order, its checksums holding')
  t.same((await collect(db.readStream('b'))).map(e => e.revision), [0, 1, 2])
  t.same((await child.ask<number>('revision', { stream: 'a' })), 7, 'the other process sees the stream\'s end')
  // a lone awaited append too: through `append`, whose spread lets it land where the stream ends
  await child.ask('append', { stream: 'c', events: [{ type: 'C' }] })
  calls = 0
  t.same((await db.append('c', { type: 'A', data: 5 })).revision, 2, 'a lone append lands where the stream ends')
  t.equal(calls, 1, 'in one call')
  t.same((await collect(db.readStream('c'))).map(e => [e.revision, e.type, e.data]), [[0, 'A', null], [1, 'C', null], [2, 'A', 5]], 'its checksum holding')
  // an expected revision still holds where the stream moved on
  await child.ask('append', { stream: 'b', events: [{ type: 'C' }] })
  await t.rejects(db.append('b', { type: 'A' }, { expectedRevision: 2 }), { code: 'ANNALS_WRONG_EXPECTED_REVISION' })
})
