// The PostgreSQL server the PostgreSQL tests run on (test/helpers/postgres.ts): a database of
// this file's own that answers queries, and is gone after `stop` (with the server, when this
// file started one). Skips with the reason where there is no server.
import t from 'tap'
import pg from 'pg'
import { postgresForTests } from './helpers/postgres.js'

const server = await postgresForTests()
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)

async function query<R extends pg.QueryResultRow> (url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

t.test('a database of its own on a server that answers, gone after stop', { skip: server.skip ?? false }, async t => {
  const url = server.url!
  const name = new URL(url).pathname.slice(1)
  t.same(await query(url, 'select 1 as one, current_database() as db'), [{ one: 1, db: name }])
  t.match(name, new RegExp(`^annals_test_${process.pid}_[a-z0-9]+$`), 'a fresh database, named for this process')
  t.same(await query(url, 'select tablename from pg_tables where schemaname = \'public\''), [], 'with no tables in it')
  await server.stop!()
  const postgres = url.replace(/\/[^/]*$/, '/postgres')
  if (process.env.ANNALS_TEST_POSTGRES === undefined || process.env.ANNALS_TEST_POSTGRES === '') {
    await t.rejects(query(postgres, 'select 1'), { code: 'ECONNREFUSED' }, 'the server this file started is stopped')
  } else {
    t.same(await query(postgres, 'select 1 from pg_database where datname = $1', [name]), [], 'the database is dropped from the given server')
  }
})
