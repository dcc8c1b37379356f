// The PostgreSQL backend's own behaviour, beyond the contract suite: the schema made and checked,
// damage found by reads, time travel's lookups, view documents for SQL, locks, notices and
// commits across processes, a lost session. Skipped with the reason where there is no server.
import t, { type Test } from 'tap'
import pg from 'pg'
import { defineProjection, open } from '../src/index.js'
import { internalsOf } from '../src/store/internals.js'
import { collect, postgresQuery, postgresServer, stopPostgres } from './helpers/backends.js'
import { PgChild, until } from './helpers/pg-child.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
const url = server.url!
let schemas = 0

/** A schema of this test's own, dropped at its end. */
function schemaFor (t: Test): string {
  const schema = `b${schemas++}`
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  return schema
}

t.test('the schema is made on first open, its format recorded and checked', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  await db.append('s', { type: 'A' })
  await t.rejects(open({ postgres: url, schema }), { code: 'ANNALS_LOCKED' }, 'a second open in the same process')
  await db.close()
  t.same((await postgresQuery(`select name, value from ${schema}.meta where name = 'format'`)), [{ name: 'format', value: '1' }])
  await postgresQuery(`update ${schema}.meta set value = 'old' where name = 'functions'`)
  await postgresQuery(`drop function ${schema}.position_at(bigint)`)
  const again = await open({ postgres: url, schema })
  t.equal(await internalsOf(again).log.positionAt(Date.now()), 0, 'functions of another version are made again')
  await again.close()
  await postgresQuery(`update ${schema}.meta set value = '2' where name = 'format'`)
  await t.rejects(open({ postgres: url, schema }), { code: 'ANNALS_UNSUPPORTED_FORMAT' })
  await postgresQuery(`delete from ${schema}.meta where name = 'format'`)
  await t.rejects(open({ postgres: url, schema }), { code: 'ANNALS_NOT_A_DATABASE' })

  const other = schemaFor(t)
  await postgresQuery(`create schema ${other}`)
  await postgresQuery(`create table ${other}.orders (id int)`)
  await t.rejects(open({ postgres: url, schema: other }), { code: 'ANNALS_NOT_A_DATABASE' }, 'a schema of other tables')
  t.same(await postgresQuery(`select tablename from pg_tables where schemaname = $1`, [other]), [{ tablename: 'orders' }], 'and nothing was made in it')
})

t.test('open checks where: a URL or a pool, a schema name, no other keys', { skip }, async t => {
  await t.rejects(open({ postgres: 'mysql://x' }), TypeError)
  await t.rejects(open({ postgres: 42 } as never), TypeError)
  await t.rejects(open({ postgres: url, schema: 'a-b' }), TypeError)
  await t.rejects(open({ postgres: url, schema: 'x'.repeat(64) }), TypeError)
  await t.rejects(open({ postgres: url, scheme: 'a' } as never), TypeError)
  await t.rejects(open({ postgres: url }, { masterKey: Buffer.alloc(32), keyStore: { getOrCreate: async () => ({ id: Buffer.alloc(8), key: Buffer.alloc(32) }), get: async () => undefined, shred: async () => {} } }), TypeError)
  await t.rejects(open({ postgres: 'postgres://nobody@127.0.0.1:1/none' }), { code: 'ANNALS_STORAGE' }, 'no server there')
})

t.test('a pool of the caller stays open after close; one made from a URL is ended', { skip }, async t => {
  const schema = schemaFor(t)
  const pool = new pg.Pool({ connectionString: url, max: 3 })
  t.teardown(async () => { await pool.end() })
  const db = await open({ postgres: pool, schema })
  await db.append('s', { type: 'A' })
  await db.close()
  t.same((await pool.query('select 1 as one')).rows, [{ one: 1 }], 'the given pool still works')
  const own = await open({ postgres: url, schema })
  const made = internalsOf(own).log.backend as unknown as { connection: { pool: pg.Pool } }
  await own.close()
  t.ok((made.connection.pool as unknown as { ended: boolean }).ended, 'the pool annals made is ended')
})

t.test('reads find damage: a checksum that does not hold, a position or revision missing', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  for (let i = 0; i < 10; i++) await db.append(`s${i % 2}`, { type: 'A', data: { i } })
  await db.close()
  await postgresQuery(`update ${schema}.events set data = '\\x01'::bytea where position = 4`)
  let again = await open({ postgres: url, schema })
  await t.rejects(collect(again.readAll()), { code: 'ANNALS_CORRUPT' }, 'changed bytes')
  await t.rejects(collect(again.readStream('s0')), { code: 'ANNALS_CORRUPT' })
  t.same((await collect(again.readStream('s1'))).length, 5, 'the other stream reads')
  await again.close()
  await postgresQuery(`delete from ${schema}.events where position = 4`)
  again = await open({ postgres: url, schema })
  await t.rejects(collect(again.readAll()), { code: 'ANNALS_CORRUPT', message: /position 4\b/ }, 'a position missing, named')
  await t.rejects(collect(again.readAll({ backwards: true })), { code: 'ANNALS_CORRUPT' })
  await t.rejects(collect(again.readStream('s0')), { code: 'ANNALS_CORRUPT' }, 'a revision missing')
  await t.rejects(collect(again.readStream('s0', { backwards: true })), { code: 'ANNALS_CORRUPT' })
  await t.rejects(internalsOf(again).log.revisionAt('s0', 5), { code: 'ANNALS_CORRUPT' }, 'time travel that meets it')
  t.same((await collect(again.readAll({ from: 5 }))).map(e => e.position), [5, 6, 7, 8, 9], 'reads that do not reach it go on')
  await again.close()
  // the last event of a stream gone: the stream's row says where it ends
  await postgresQuery(`delete from ${schema}.events where position = 9`)
  again = await open({ postgres: url, schema })
  await t.rejects(collect(again.readStream('s1')), { code: 'ANNALS_CORRUPT' })
  await again.close()
})

t.test('revisionAt and positionAt agree with a scan of the log', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  const log = internalsOf(db).log
  const streams = ['a', 'b', 'c']
  for (let i = 0; i < 60; i++) {
    await db.append(streams[(i * 7) % 3]!, Array.from({ length: 1 + (i % 3) }, () => ({ type: 'E' })))
    if (i % 10 === 0) await new Promise(resolve => setTimeout(resolve, 3))
  }
  const all = await collect(db.readAll())
  for (const stream of [...streams, 'none']) {
    for (const position of [-1, 0, 1, 5, 17, 40, all.length - 1, all.length + 5]) {
      const expected = all.filter(e => e.stream === stream && e.position <= position).length - 1
      t.equal(await log.revisionAt(stream, position), expected, `revisionAt(${stream}, ${position})`)
    }
  }
  for (const time of [0, all[0]!.time - 1, all[0]!.time, all[30]!.time, all[all.length - 1]!.time, Date.now() + 1000]) {
    const expected = all.filter(e => e.time <= time).length - 1
    t.equal(await log.positionAt(time), expected, `positionAt(${time})`)
  }
  await db.close()
})

t.test('db.stats() counts this process\'s appends, batches and latency on PostgreSQL', { skip }, async t => {
  const schema = 'stats'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: url, schema })
  await db.append('a', [{ type: 'A' }, { type: 'B' }])
  await Promise.all(Array.from({ length: 10 }, async (_, i) => await db.append(`s-${i}`, { type: 'C' })))
  const stats = db.stats()
  t.match(stats.appends, { count: 11, events: 12 })
  t.ok(stats.batches.count >= 2 && stats.batches.count < 11, `the ten concurrent appends went in fewer batches than appends (${stats.batches.count})`)
  t.ok(stats.appends.latency.p99 > 0, 'a latency')
  await db.close()
})

t.test('view documents are jsonb where they are plain data, for SQL', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  const Totals = defineProjection<unknown>({
    name: 'totals',
    version: 1,
    handle: async (e, view) => {
      if (e.type === 'Deposited') view.put(e.stream, { balance: ((await view.get(e.stream) as { balance: number } | undefined)?.balance ?? 0) + (e.data as { amount: number }).amount, owner: 'ada' })
      else view.put(`raw-${e.stream}`, { at: new Date(0), bytes: Buffer.from([1]) })
    }
  })
  await db.append('acct-1', [{ type: 'Deposited', data: { amount: 5 } }, { type: 'Deposited', data: { amount: 7 } }])
  await db.append('acct-2', [{ type: 'Deposited', data: { amount: 1 } }, { type: 'Other' }])
  const totals = await db.project(Totals)
  await totals.caughtUp()
  const docs = await postgresQuery(`select key, doc from ${schema}.view_documents('totals') order by key`)
  t.same(docs, [
    { key: 'acct-1', doc: { balance: 12, owner: 'ada' } },
    { key: 'acct-2', doc: { balance: 1, owner: 'ada' } },
    { key: 'raw-acct-2', doc: null }
  ], 'plain documents as jsonb; one holding a Date and bytes is null')
  t.same(await postgresQuery(`select key from ${schema}.view_documents('totals') where (doc->>'balance')::int > 10`), [{ key: 'acct-1' }], 'queried with SQL')
  await db.close()
  // a new version is a new generation: view_documents follows the one in service
  const again = await open({ postgres: url, schema })
  const v2 = await again.project(defineProjection({ name: 'totals', version: 2, handle: (e, view) => { view.put(e.stream, e.revision) } }))
  await v2.caughtUp()
  await until(async () => (await postgresQuery(`select key, doc from ${schema}.view_documents('totals') order by key`)).length === 2)
  t.same(await postgresQuery(`select key, doc from ${schema}.view_documents('totals') order by key`), [{ key: 'acct-1', doc: 1 }, { key: 'acct-2', doc: 1 }])
  t.same(await postgresQuery(`select * from ${schema}.view_documents('none')`), [])
  await again.close()
})

t.test('ids and types with NUL are refused on PostgreSQL, alone', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  const [bad, good] = await Promise.allSettled([db.append('s', { type: 'A', id: 'a\u0000b' }), db.append('s', { type: 'B' })])
  t.match(bad, { status: 'rejected', reason: { code: 'ANNALS_INVALID_EVENT' } })
  t.match(good, { status: 'fulfilled', value: { revision: 0, position: 0 } })
  await t.rejects(db.append('s', { type: 'A\u0000' }), { code: 'ANNALS_INVALID_EVENT' })
  await db.close()
})

t.test('locks and notices across processes; commits heard from another process', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  t.teardown(async () => { await db.close() })
  const backend = internalsOf(db).log.backend
  const child = await PgChild.start(url, schema)
  t.teardown(async () => { await child.kill() })
  const freed: string[] = []
  backend.onNotice('lock-freed', name => { freed.push(name) })
  const shreds: string[] = []
  backend.onNotice('shred', subject => { shreds.push(subject) })
  await child.ask('listen', { topic: 'shred' })
  await child.ask('commits')

  t.equal(await child.ask('lock', { name: 'projection:p' }), true, 'the child takes a lock')
  t.equal(await backend.tryLock('projection:p'), undefined, 'held elsewhere')
  t.equal(await child.ask('lock', { name: 'projection:p' }), false, 'and not twice in its process')
  await child.ask('release', { name: 'projection:p' })
  t.ok(await until(() => freed.includes('projection:p')), 'its release is heard as lock-freed')
  const mine = await backend.tryLock('projection:p')
  t.ok(mine !== undefined, 'then taken here')
  t.equal(await backend.tryLock('projection:p'), undefined, 'not twice in this process')
  t.equal(await child.ask('lock', { name: 'projection:p' }), false)

  await backend.notify('shred', 'user-7')
  t.same(shreds, ['user-7'], 'a notice reaches this process at once')
  t.ok(await until(() => child.heard.some(h => h.notice === 'shred' && h.message === 'user-7')), 'and the other process')
  await new Promise(resolve => setTimeout(resolve, 100))
  t.same(shreds, ['user-7'], 'once')
  await t.rejects(backend.notify('big', 'x'.repeat(9000)), TypeError, 'more than NOTIFY carries')

  // a commit of this process is heard by the other; one of the other moves this one's head
  await db.append('mine', { type: 'M' })
  t.ok(await until(() => child.heard.some(h => h.commit !== undefined)), 'the other process hears the commit')
  const commits: number[][] = []
  db.subscribe({ from: 'end' }, async () => {})
  backend.onCommit((first, last) => { commits.push([first, last]) })
  await child.ask('append', { stream: 'theirs', events: [{ type: 'T' }, { type: 'T' }] })
  t.ok(await until(() => backend.head.position === 2), 'the head moves with the other\'s commit, without a read')
  t.same(commits, [[1, 2]])

  // a holder that dies: its lock is free again (no notice comes; a try tells)
  t.equal(await child.ask('lock', { name: 'group:g' }), true)
  t.equal(await backend.tryLock('group:g'), undefined)
  await child.kill()
  let taken: unknown
  t.ok(await until(async () => (taken = await backend.tryLock('group:g')) !== undefined), 'taken once the holder is gone')

  // this process's session lost: its locks are lost, and it connects again
  let lost = false
  void mine!.lost.then(() => { lost = true })
  await postgresQuery(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'annals-session' and datname = current_database()
    and pid in (select pid from pg_locks where locktype = 'advisory')`)
  t.ok(await until(() => lost), 'lost settles when the session drops')
  t.ok(await until(async () => { const l = await backend.tryLock('projection:p').catch(() => undefined); if (l !== undefined) await l.release(); return l !== undefined }), 'locks are taken again on a new session')
  await db.append('after', { type: 'A' })
  t.equal(backend.head.position, 3)
  void taken
})

t.test('appends go on the session\'s connection, which LISTENs; when it drops in their midst, each append answered is stored where it said, and appends go on', { skip }, async t => {
  const schema = schemaFor(t)
  const db = await open({ postgres: url, schema })
  t.teardown(async () => { await db.close() })
  await db.append('warm', { type: 'W' })
  // this process's session runs the appends: its last statement is one (the schema's name is the test's own)
  const sessions = async (): Promise<number[]> => (await postgresQuery<{ pid: number }>(
    'select pid from pg_stat_activity where application_name = \'annals-session\' and datname = current_database() and query like $1', [`%"${schema}".append%`])).map(r => r.pid)
  t.equal((await sessions()).length, 1, 'the session\'s connection ran the append')
  const answered: Array<{ i: number, position: number, revision: number }> = []
  const failed: unknown[] = []
  let killed = false
  // four callers append while the session's connection is ended once a hundred were answered
  let next = 0
  const callers = Array.from({ length: 4 }, async () => {
    for (let i = next++; i < 300; i = next++) {
      try {
        const r = await db.append(`s-${i % 7}`, { type: 'A', data: { i } })
        answered.push({ i, position: r.position, revision: r.revision })
      } catch (err) {
        failed.push(err)
      }
    }
  })
  t.ok(await until(() => answered.length >= 100))
  const pids = await sessions()
  await postgresQuery('select pg_terminate_backend(pid) from unnest($1::int[]) as pid', [pids])
  killed = pids.length === 1 && answered.length < 300
  await Promise.all(callers)
  t.ok(killed, 'the session\'s connection was ended amid the appends')
  t.ok(answered.length >= 290, `appends were answered (${answered.length}; failed ${failed.length})`)
  for (const err of failed) t.match(err, { code: 'ANNALS_STORAGE' }, 'an append in flight when the connection went, and not written, fails with ANNALS_STORAGE')
  const events = await collect(db.readAll())
  const byPosition = new Map(events.map(e => [e.position, e]))
  t.ok(answered.every(a => {
    const e = byPosition.get(a.position)
    return e !== undefined && (e.data as { i: number }).i === a.i && e.stream === `s-${a.i % 7}` && e.revision === a.revision
  }), 'every append answered is stored where its answer said')
  t.equal(events.length, 1 + answered.length, 'nothing is stored that was not answered')
  t.ok(await until(async () => { await db.append('after', { type: 'A' }); return (await sessions()).length === 1 }), 'the session connects again and runs the appends')
  t.equal((await db.head()).position, (await collect(db.readAll())).length - 1, 'the head is where the log ends')
})
