// The plans of the PostgreSQL append functions: what an append reads under the head row's lock
// must be found through keys, never by scanning a table whose size grows with the database (the
// functions run generic plans, planned once per session: a join planned without the values in
// hand may scan). Counted with pg_stat_xact_user_tables, the current transaction's own scans.
// Skipped with the reason where there is no server.
import t from 'tap'
import pg from 'pg'
import { open } from '../src/index.js'
import { postgresQuery, postgresServer, stopPostgres } from './helpers/backends.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)

/** Sequential scans of a table of `schema` in the current transaction of `client`. */
async function scans (client: pg.Client, schema: string, table: string): Promise<number> {
  const rows = (await client.query<{ n: string }>(
    'select coalesce(seq_scan, 0) as n from pg_stat_xact_user_tables where schemaname = $1 and relname = $2', [schema, table])).rows
  return Number(rows[0]?.n ?? 0)
}

t.test('append checks the revisions it assumed through the streams\' key, not a scan of the table', { skip }, async t => {
  const schema = 'plans'
  t.teardown(async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) })
  const db = await open({ postgres: server.url!, schema })
  // enough streams that a plan by their key is the cheaper one (a few pages would be scanned)
  await Promise.all(Array.from({ length: 2000 }, async (_, i) => await db.append(`s-${i}`, { type: 'A' })))
  await db.close()
  await postgresQuery(`analyze ${schema}.streams`)

  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  await client.query('begin')
  const before = await scans(client, schema, 'streams')
  // no events: the call checks that s-7 is at revision 0 and s-8 at 5 (it is at 0), and writes nothing
  const rows = (await client.query<{ o_stale: string, o_actual: string }>(
    `select o_stale, o_actual from ${schema}.append(p_streams => $1, p_befores => $2, p_ids => '{}', p_head => null, p_time => null,
      p_owner => null, p_opened => -1, p_stream => '{}', p_revision => '{}', p_id => '{}', p_type => '{}', p_version => '{}',
      p_tag_from => '{}', p_tag_to => '{}', p_data => '{}', p_metadata => '{}', p_sealed => '{}', p_digest => '{}', p_sum => '{}',
      p_tags => '{}', p_tag_rows => '{}', p_w_stream => '{}', p_w_revision => '{}', p_w_last => '{}',
      p_put_k => '{}', p_put_v => '{}', p_put_doc => '{}', p_del_k => '{}', p_channel => 'none', p_rule_keys => '{}',
      p_loose => '{}', p_spread => 1)`,
    [['s-7', 's-8'], [0, 5]])).rows
  t.same(rows.map(r => [r.o_stale, Number(r.o_actual)]), [['s-8', 0]], 'the stale revision is found')
  t.equal(await scans(client, schema, 'streams') - before, 0, 'and the streams table was not scanned')
  await client.query('rollback')
})
