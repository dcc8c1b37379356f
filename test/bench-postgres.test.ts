// The PostgreSQL rows of `npm run bench` run once at a tiny size on the tests' server, so that
// they never rot: each row reports a rate for annals and for its raw baseline, and the run
// leaves nothing in the database. No timing is asserted. Skips with the reason where there is no server.
import t from 'tap'
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Message } from '../bench/child.js'
import type { Result } from '../bench/measure.js'
import { assertBuilt } from './helpers/child.js'
import { postgresForTests } from './helpers/postgres.js'

const server = await postgresForTests()
if (server.skip !== undefined) t.comment(`PostgreSQL bench rows skipped: ${server.skip}`)

t.test('the postgres area runs its rows and drops its schemas', { skip: server.skip ?? false }, async t => {
  t.teardown(server.stop!)
  assertBuilt()
  const child = fork(join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'bench', 'child.js'), ['postgres', '0', '--tiny'], {
    env: { ...process.env, ANNALS_BENCH_POSTGRES: server.url! },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const results: Result[] = []
  child.on('message', (m: Message) => { if (m.type === 'result') results.push(m.result) })
  const code = await new Promise(resolve => child.once('exit', resolve))
  t.equal(code, 0)
  t.same(results.map(r => r.name), [
    'PostgreSQL: awaited single appends',
    'PostgreSQL: single appends of 64 concurrent callers (group commit)',
    'PostgreSQL: replay, readAll of 2,000 events',
    'PostgreSQL: 4 processes appending together (64 concurrent callers each)',
    'PostgreSQL: 4 processes appending together (one awaited append at a time each)'
  ])
  for (const r of results) {
    t.ok(r.area === 'postgres' && r.annals.rate.median > 0 && r.annals.memory.rssMB > 0 && (r.baseline?.rate.median ?? 0) > 0, `${r.name}: rates and a peak`)
    t.ok(r.also.every(a => a.side.rate.median > 0), `${r.name}: its further references ran`)
  }
  const client = new pg.Client({ connectionString: server.url! })
  await client.connect()
  try {
    t.same((await client.query('select nspname from pg_namespace where nspname like \'annals_bench%\'')).rows, [], 'its schemas are dropped')
  } finally { await client.end() }
})

t.test('without ANNALS_BENCH_POSTGRES the area refuses to run', async t => {
  assertBuilt()
  const env = { ...process.env }
  delete env.ANNALS_BENCH_POSTGRES
  const child = fork(join(fileURLToPath(new URL('..', import.meta.url)), 'dist', 'bench', 'child.js'), ['postgres', '0', '--tiny'], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.not(await new Promise(resolve => child.once('exit', resolve)), 0)
  t.match(stderr, /needs ANNALS_BENCH_POSTGRES/)
})
