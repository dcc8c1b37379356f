// Streams' lives on PostgreSQL beyond the contract: `annals verify` passes before and after a
// scavenge (which deletes rows: the runs of removed positions and each stream's kept_from tell
// removal from damage) and still finds damage afterwards; loads at a position or a moment and
// reads give the same answers before and after; a scavenged database exported, imported into
// another schema and exported again is the same file, and keeps its rules; a tombstone set by
// one process holds in another that opened the database before it. Skipped with the reason where
// there is no server.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineAggregate, open, type Annals } from '../src/index.js'
import { collect, postgresQuery, postgresServer, stopPostgres, tempDir } from './helpers/backends.js'
import { annals } from './helpers/cli.js'
import { PgChild, until } from './helpers/pg-child.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
const url = server.url!
const { dir: root, remove } = tempDir('annals-pg-lifecycle-')
t.teardown(remove)

const Trail = defineAggregate<number[]>({ name: 'trail', initial: () => [], evolve: (s, e) => [...s, e.position], snapshotEvery: 4 })

/** A database where every rule removes something. */
async function build (db: Annals): Promise<void> {
  await db.append('other', { type: 'O' })
  await db.append('big', Array.from({ length: 300 }, (_, j) => ({ type: 'T', data: j })))
  for (let i = 0; i < 60; i++) await db.append(`s-${i % 6}`, { type: 'T', data: i, tags: [`n:${i % 2}`] })
  for (let i = 0; i < 6; i++) await db.load(Trail, `s-${i}`)
  await db.truncateStream('big', { before: 250 })
  await db.deleteStream('s-0')
  await db.append('s-0', { type: 'T', data: 'again' })
  await db.tombstoneStream('s-1')
  await db.truncateStream('s-2', { before: 4 })
  await db.setStreamMetadata('s-3', { maxCount: 3 })
  await db.setStreamMetadata('s-', { maxAge: 3_600_000 })
}

async function answers (db: Annals): Promise<unknown> {
  const head = (await db.head()).position
  return {
    all: await collect(db.readAll()),
    back: (await collect(db.readAll({ backwards: true }))).map(e => e.position),
    tags: (await collect(db.readAll({ tags: ['n:1'] }))).map(e => e.position),
    streams: await collect(db.streams()),
    loads: await Promise.all(['big', 's-0', 's-1', 's-2', 's-3', 's-4'].map(async s => [
      await db.load(Trail, s), await db.load(Trail, s, { at: { position: 200 } }), await db.load(Trail, s, { at: { position: head - 5 } }),
      await db.load(Trail, s, { at: { revision: 5 } })
    ]))
  }
}

t.test('verify and answers before and after a scavenge; damage still found', { skip }, async t => {
  const schema = 'lifecycle_verify'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: url, schema })
  await build(db)
  const before = await answers(db)
  const verify = async (): Promise<{ code: number, report: { ok: boolean, events: number, problems: Array<{ check: string, position?: number }> } }> => {
    const out = await annals(['verify', url, '--schema', schema, '--json'])
    return { code: out.code, report: JSON.parse(out.stdout) }
  }
  t.match(await verify(), { code: 0, report: { ok: true } }, 'verify passes before the scavenge')
  const { removed } = await db.scavenge()
  t.equal(removed, 250 + 10 + 10 + 4 + 7, 'big below 250, s-0 and s-1 whole, s-2 below 4, s-3 but 3')
  t.equal((await postgresQuery<{ n: number }>(`select count(*)::int as n from ${schema}.events`))[0]!.n,
    (await db.head()).position + 1 - removed, 'their rows are gone')
  t.same(await answers(db), before, 'the same answers after the scavenge')
  const after = await verify()
  t.match(after, { code: 0, report: { ok: true } }, 'verify passes after the scavenge')
  await db.close()

  // a kept event deleted by hand is damage, not removal
  const [{ position }] = await postgresQuery<{ position: number }>(`select position from ${schema}.events where stream = 's-4' order by revision limit 1 offset 3`) as [{ position: number }]
  await postgresQuery(`delete from ${schema}.events where position = $1`, [position])
  const damaged = await verify()
  t.equal(damaged.code, 1)
  t.ok(damaged.report.problems.some(p => p.check === 'records' && p.position === Number(position)), 'verify names the missing position')
  t.ok(damaged.report.problems.some(p => p.check === 'streams'), 'and the revision missing in its stream')
  const again = await open({ postgres: url, schema })
  await t.rejects(collect(again.readAll()), { code: 'ANNALS_CORRUPT' }, 'a read of the log stops there')
  await t.rejects(collect(again.readStream('s-4')), { code: 'ANNALS_CORRUPT' }, 'and a read of its stream')
  await again.close()
})

t.test('a scavenged database exported, imported and exported again: the same file, the same rules', { skip }, async t => {
  const source = 'lifecycle_source'
  const copy = 'lifecycle_copy'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${source} cascade; drop schema if exists ${copy} cascade`) })
  const db = await open({ postgres: url, schema: source })
  await build(db)
  await db.scavenge()
  const all = await collect(db.readAll())
  await db.close()
  const first = join(root, 'first.jsonl')
  t.equal((await annals(['export', url, '--schema', source, '--out', first])).code, 0)
  const imported = await annals(['import', url, first, '--schema', copy])
  t.equal(imported.code, 0, imported.stderr)
  const second = await annals(['export', url, '--schema', copy])
  t.equal(second.stdout, readFileSync(first, 'utf8'), 'byte for byte')
  t.match(await annals(['verify', url, '--schema', copy]), { code: 0 }, 'the copy verifies: its holes are removed positions')
  const back = await open({ postgres: url, schema: copy })
  t.same(await collect(back.readAll()), all, 'the same events at the same positions')
  await t.rejects(back.append('s-1', { type: 'T' }), { code: 'ANNALS_STREAM_DELETED' }, 'the tombstone came along')
  t.same((await collect(back.readStream('s-3'))).map(e => e.revision), [7, 8, 9], 'and the retention')
  t.same((await collect(back.readStream('big', { limit: 2 }))).map(e => e.revision), [250, 251], 'a stream that starts later')
  await back.close()
})

t.test('a tombstone holds in a process that opened the database before it', { skip }, async t => {
  const schema = 'lifecycle_processes'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: url, schema })
  await db.append('cart', { type: 'A' })
  const child = await PgChild.start(url, schema)
  t.teardown(async () => { await child.close() })
  t.match(await child.ask('append', { stream: 'cart', events: [{ type: 'B' }] }), { revision: 1, position: 1 }, 'the child appends while it may')
  await db.tombstoneStream('cart')
  await t.rejects(child.ask('append', { stream: 'cart', events: [{ type: 'C' }] }), /ANNALS_STREAM_DELETED/, 'refused in the other process')
  await db.append('old', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
  await db.truncateStream('old', { before: 2 })
  // reads in another process follow once it hears the notice (docs/postgres.md)
  t.ok(await until(async () => JSON.stringify(await child.ask('readStream', { stream: 'old' })) === '[2]'), 'the other process reads what the truncation left')
  t.equal(await db.revision('cart'), 1)
  await db.close()
})
