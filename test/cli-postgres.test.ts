// The command line on PostgreSQL: every command that takes a folder takes a postgres:// URL
// (and --schema). A LevelDB database exported, imported into PostgreSQL and exported again is
// the same file, byte for byte; info, streams, read and verify work on it; verify finds damage.
// Skipped with the reason where there is no server.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { postgresQuery, postgresServer, stopPostgres, tempDir } from './helpers/backends.js'
import { annals, jsonLines } from './helpers/cli.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)
const url = server.url!
const { dir: root, remove } = tempDir('annals-cli-postgres-')
t.teardown(remove)
const dir = join(root, 'db')
const masterKey = Buffer.alloc(32, 3).toString('hex')
const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }

t.before(async () => {
  if (skip !== false) return
  const db = await open(dir, { personalData, masterKey: Buffer.from(masterKey, 'hex') })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' }, tags: ['user:1'] })
  await db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'b@example.com' } })
  await db.append('odd', [
    { type: 'Odd', id: 'odd-1', data: { when: new Date(86400000), bytes: Buffer.from([0, 1, 255]), big: -(2n ** 63n), nan: NaN }, metadata: { correlation: 'c-1' } },
    { type: 'Plain', data: 'a string', tags: ['a', 'b'] },
    { type: 'Empty' }
  ])
  for (let i = 0; i < 40; i++) await db.append(`s-${i % 4}`, { type: 'Step', data: { i } })
  await db.shred('user-2')
  await db.close()
})

t.test('export of LevelDB, import into PostgreSQL, export again: the same bytes', { skip }, async t => {
  t.teardown(async () => { await postgresQuery('drop schema if exists moved cascade') })
  const env = { ANNALS_MASTER_KEY: masterKey }
  const first = join(root, 'first.jsonl')
  t.equal((await annals(['export', dir, '--out', first], { env })).code, 0)
  const imported = await annals(['import', url, first, '--schema', 'moved'], { env })
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stderr, /imported 45 events into postgres:\/\/.*\(schema moved\)/)
  const again = await annals(['export', url, '--schema', 'moved'], { env })
  t.equal(again.code, 0, again.stderr)
  t.equal(again.stdout, readFileSync(first, 'utf8'), 'the same file, byte for byte')
  t.same(jsonLines(again.stdout)[1]!.redacted, ['email'], 'the shredded subject stays shredded')

  const info = await annals(['info', url, '--schema', 'moved', '--json'], { env })
  t.equal(info.code, 0, info.stderr)
  t.match(JSON.parse(info.stdout), { events: 45, streams: 7, shreddedSubjects: 0 })
  t.ok((JSON.parse(info.stdout) as { sizeBytes: number }).sizeBytes > 0, 'the size of its tables')
  const streams = await annals(['streams', url, '--schema', 'moved', '--prefix', 's-'], { env })
  t.equal(streams.code, 0, streams.stderr)
  t.match(streams.stdout, /s-0[\s\S]*s-3/)
  const read = await annals(['read', url, 'user-1', '--schema', 'moved', '--json'], { env })
  t.same(jsonLines(read.stdout).map(l => l.data), [{ userId: 'user-1', email: 'a@example.com' }])

  const verified = await annals(['verify', url, '--schema', 'moved'])
  t.equal(verified.code, 0, verified.stdout + verified.stderr)
  t.match(verified.stdout, /45 events decode[\s\S]*ok: no problem found/)

  const twice = await annals(['import', url, first, '--schema', 'moved'], { env })
  t.equal(twice.code, 2, 'an import into a database with events is refused')
  t.equal((await postgresQuery<{ n: number }>('select count(*)::int as n from moved.events'))[0]!.n, 45, 'and changes nothing')
})

t.test('shred on PostgreSQL; a failed import leaves no schema behind', { skip }, async t => {
  t.teardown(async () => { await postgresQuery('drop schema if exists shredding cascade') })
  const env = { ANNALS_MASTER_KEY: masterKey }
  const file = join(root, 'for-shred.jsonl')
  t.equal((await annals(['export', dir, '--out', file], { env })).code, 0)
  t.equal((await annals(['import', url, file, '--schema', 'shredding'], { env })).code, 0)
  const done = await annals(['shred', url, 'user-1', '--yes', '--schema', 'shredding'], { env })
  t.equal(done.code, 0, done.stderr)
  const [event] = jsonLines((await annals(['read', url, 'user-1', '--json', '--schema', 'shredding'], { env })).stdout)
  t.same(event!.data, { userId: 'user-1', email: null })
  t.same(event!.redacted, ['email'])
  t.match(JSON.parse((await annals(['info', url, '--json', '--schema', 'shredding'], { env })).stdout), { shreddedSubjects: 1 })

  const bad = readFileSync(file, 'utf8').split('\n').slice(0, 3).join('\n') + '\n{"not": "an event"}\n'
  const failed = await annals(['import', url, '-', '--schema', 'failed_import'], { env, input: bad })
  t.equal(failed.code, 2, failed.stderr)
  t.same(await postgresQuery(`select 1 from pg_namespace where nspname = 'failed_import'`), [], 'the schema it made is gone')
})

t.test('verify finds damage in the tables', { skip }, async t => {
  t.teardown(async () => { await postgresQuery('drop schema if exists damaged cascade') })
  const db = await open({ postgres: url, schema: 'damaged' })
  for (let i = 0; i < 20; i++) await db.append(`s-${i % 3}`, { type: 'Step', data: { i }, tags: ['t'] })
  await db.close()
  t.equal((await annals(['verify', url, '--schema', 'damaged'])).code, 0)
  await postgresQuery(`update damaged.events set data = '\\x02'::bytea where position = 7`)
  await postgresQuery('delete from damaged.events where position = 12')
  await postgresQuery(`update damaged.streams set revision = 99 where stream = 's-1'`)
  await postgresQuery(`delete from damaged.event_tags where position = 3`)
  const out = await annals(['verify', url, '--schema', 'damaged', '--json'])
  t.equal(out.code, 1)
  const report = JSON.parse(out.stdout) as { ok: boolean, problems: Array<{ check: string, position?: number }> }
  t.equal(report.ok, false)
  t.ok(report.problems.some(p => p.check === 'records' && p.position === 7), 'the changed event')
  t.ok(report.problems.some(p => p.check === 'records' && p.position === 12), 'the missing position')
  t.ok(report.problems.some(p => p.check === 'streams'), 'the stream whose row disagrees, and the revision gap')
  t.ok(report.problems.some(p => p.check === 'tags' && p.position === 3), 'the tag index entry missing')
})

t.test('a URL without an annals database, or a wrong key, says so', { skip }, async t => {
  const none = await annals(['info', url, '--schema', 'nothing_here'])
  t.equal(none.code, 3)
  t.match(none.stderr, /no annals database/)
  t.same(await postgresQuery(`select 1 from pg_namespace where nspname = 'nothing_here'`), [], 'nothing was made')
  const schema = await annals(['info', dir, '--schema', 'x'])
  t.equal(schema.code, 2, '--schema is for a URL')
  const hidden = await annals(['info', url.replace('postgres://postgres@', 'postgres://postgres:secret@'), '--schema', 'nothing_here'])
  t.notMatch(hidden.stderr, /secret/, 'a password is not printed')
})
