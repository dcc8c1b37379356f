// Crypto-shredding on PostgreSQL, in the server's files: after a shred, a subject's key (and its
// wrapped form, under a master key) is in none of the key table's files and nowhere in the data
// directory outside the WAL (pg_wal, which keeps it until its segments are recycled: see
// docs/privacy.md). Needs a server whose data directory this process can read (root, in CI);
// skips with the reason otherwise.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { open } from '../src/index.js'
import { decode } from '../src/storage/codec.js'
import { collect, postgresQuery, postgresServer, stopPostgres } from './helpers/backends.js'

const server = await postgresServer()
t.teardown(stopPostgres)

/** The data directory of the server, when this process may read it. */
async function dataDirectory (): Promise<string | { skip: string }> {
  if (server.url === undefined) return { skip: `PostgreSQL tests skipped: ${server.skip}` }
  let dir: string
  try {
    dir = (await postgresQuery<{ data_directory: string }>('show data_directory'))[0]!.data_directory
  } catch (err) {
    return { skip: `the server does not say where its data directory is: ${(err as Error).message}` }
  }
  try {
    readdirSync(join(dir, 'base'))
  } catch {
    return { skip: `this process cannot read the server's data directory ${dir} (run the tests as root, or as the server's user)` }
  }
  return dir
}

const data = await dataDirectory()
const skip = typeof data === 'string' ? false : data.skip
if (skip !== false) t.comment(skip)

/** Files under `dir` (not pg_wal) holding any of `needles`. */
function filesHolding (dir: string, needles: Buffer[]): string[] {
  const found: string[] = []
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name)
      if (entry.isDirectory()) {
        if (path !== join(dir, 'pg_wal')) walk(path)
      } else if (entry.isFile()) {
        let bytes: Buffer
        try {
          bytes = readFileSync(path)
        } catch {
          continue // gone meanwhile (a temporary file of the server)
        }
        if (needles.some(n => bytes.includes(n))) found.push(path)
      }
    }
  }
  walk(dir)
  return found
}

for (const masterKey of [undefined, Buffer.alloc(32, 7)]) {
  t.test(`after a shred, the key ${masterKey === undefined ? '' : '(wrapped under a master key) '}is in none of the server's files outside the WAL`, { skip }, async t => {
    const dir = data as string
    const schema = `shred_${masterKey === undefined ? 'plain' : 'wrapped'}`
    t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
    const db = await open({ postgres: server.url!, schema }, {
      personalData: { UserRegistered: { subject: 'userId', fields: ['email'] } },
      ...(masterKey === undefined ? {} : { masterKey })
    })
    await db.append('user-7', { type: 'UserRegistered', data: { userId: 'user-7', email: 'ada@example.org' } })
    await db.append('user-8', { type: 'UserRegistered', data: { userId: 'user-8', email: 'bob@example.org' } })
    const stored = (await postgresQuery<{ value: Buffer }>(`select value from ${schema}.keys where subject = 'user-7'`))[0]!.value
    const [, key] = decode(stored) as [Uint8Array, Uint8Array]
    const needles = [Buffer.from(key), Buffer.from(Buffer.from(key).toString('hex')), stored]
    const [{ path }] = await postgresQuery<{ path: string }>(`select pg_relation_filepath('${schema}.keys') as path`) as [{ path: string }]
    await postgresQuery('checkpoint')
    t.ok(readFileSync(join(dir, path)).includes(Buffer.from(key)) || readFileSync(join(dir, path)).includes(stored), 'before: the key is in the table\'s file (the scan can see it)')

    await db.shred('user-7')
    await postgresQuery('checkpoint')
    const [user7, user8] = await collect(db.readAll())
    t.same(user7!.data, { userId: 'user-7', email: null }, 'the shredded field reads as null')
    t.same(user8!.data, { userId: 'user-8', email: 'bob@example.org' }, 'the other subject\'s reads as given')
    const [{ path: now }] = await postgresQuery<{ path: string }>(`select pg_relation_filepath('${schema}.keys') as path`) as [{ path: string }]
    t.not(now, path, 'the table was rewritten to a new file')
    let old = Buffer.alloc(0)
    try { old = readFileSync(join(dir, path)) } catch {}
    t.equal(old.length, 0, 'its old file is emptied (or gone)')
    // each file named with its relation, if it is one, for the failure's message
    const holding = await Promise.all(filesHolding(dir, needles).map(async f => {
      const node = Number(f.split('/').pop())
      const rel = Number.isSafeInteger(node) ? await postgresQuery<{ name: string }>(`select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relfilenode = $1`, [node]) : []
      return `${f}${rel.length > 0 ? ` (${rel[0]!.name})` : ''}`
    }))
    t.same(holding, [], 'no file of the data directory outside pg_wal holds the key, raw, as hex, or as stored')
    await db.close()
  })
}

// A transaction that began before the shred and still runs, but holds no snapshot between its
// statements (read committed, an id of its own after a write): the wait for snapshots does not
// see it, yet the rewrite must not copy the deleted key while it runs. The shred rewrites again
// until no deleted row was kept.
t.test('a transaction the wait for snapshots does not see keeps no deleted key in the files', { skip }, async t => {
  const dir = data as string
  const schema = 'shred_running'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: server.url!, schema }, { personalData: { UserRegistered: { subject: 'userId', fields: ['email'] } } })
  await db.append('user-7', { type: 'UserRegistered', data: { userId: 'user-7', email: 'ada@example.org' } })
  const stored = (await postgresQuery<{ value: Buffer }>(`select value from ${schema}.keys where subject = 'user-7'`))[0]!.value
  const [, key] = decode(stored) as [Uint8Array, Uint8Array]
  await postgresQuery(`create table ${schema}.other (n integer)`)
  const running = new pg.Client({ connectionString: server.url! })
  await running.connect()
  await running.query('begin')
  await running.query(`insert into ${schema}.other values (1)`)
  const ended = new Promise<void>(resolve => setTimeout(() => { void running.query('commit').then(async () => { await running.end(); resolve() }) }, 1500))
  await db.shred('user-7')
  await ended
  await postgresQuery('checkpoint')
  t.same(filesHolding(dir, [Buffer.from(key), stored]), [], 'the key is in no file outside pg_wal')
  await db.close()
})
