// Listing streams merges the index blocks on disk with the records after the index marker,
// whose index waits in memory: every stream once, with its last revision, in byte order.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import type { StreamSummary } from '../src/backend/backend.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { open, type Annals } from '../src/index.js'
import { internalsOf } from '../src/store/internals.js'

const names = ['b', 'a', 'ab', 'a-1', 'zz', 'é', 'user-10', 'user-2', 'user-1']

type Listed = Omit<StreamSummary, 'time'>

/** The expected listing: last revision and position of each stream, sorted by UTF-8 bytes. */
function model (appends: Array<[string, number]>, prefix = '', after?: string, limit = Infinity): Listed[] {
  const last = new Map<string, Listed>()
  appends.forEach(([stream], position) => {
    last.set(stream, { stream, revision: (last.get(stream)?.revision ?? -1) + 1, position })
  })
  return [...last.values()]
    .filter(s => s.stream.startsWith(prefix))
    .sort((a, b) => Buffer.compare(Buffer.from(a.stream), Buffer.from(b.stream)))
    .filter(s => after === undefined || Buffer.compare(Buffer.from(s.stream), Buffer.from(after)) > 0)
    .slice(0, limit)
}

/** The backend's listing, without the commit times. */
async function listStreams (db: Annals, prefix = '', after?: string, limit = Infinity): Promise<Listed[]> {
  const out: Listed[] = []
  for await (const { stream, revision, position } of internalsOf(db).log.backend.streams({ prefix, after, limit })) out.push({ stream, revision, position })
  return out
}

t.test('disk blocks, the tail, and streams in both', async t => {
  const flush = indexSettings.flushEvents
  indexSettings.flushEvents = 10
  t.teardown(() => { indexSettings.flushEvents = flush })
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  let db = await open({ level })
  t.same(await listStreams(db), [], 'an empty database has no streams')

  const appends: Array<[string, number]> = []
  // 25 events one at a time: two flushes (after 10 and 20), five events left in the tail
  for (let i = 0; i < 25; i++) {
    const stream = names[(i * 7) % names.length]!
    await db.append(stream, { type: 'T', data: i })
    appends.push([stream, i])
  }
  // a stream only in the tail
  await db.append('only-in-tail', { type: 'T' })
  appends.push(['only-in-tail', 25])
  t.same(await listStreams(db), model(appends))
  t.same(await listStreams(db, 'user-'), model(appends, 'user-'), 'a prefix')
  t.same(await listStreams(db, 'a'), model(appends, 'a'), 'a prefix that is also a name')
  t.same(await listStreams(db, 'nothing'), [], 'a prefix nothing has')
  t.same(await listStreams(db, '', 'ab', 3), model(appends, '', 'ab', 3), 'after a name, with a limit')
  t.same(await listStreams(db, 'user-', 'user-1'), model(appends, 'user-', 'user-1'), 'a prefix, after a name')

  // after close the index is all on disk; after reopening, the same listing
  await db.close()
  db = await open({ level })
  t.same(await listStreams(db), model(appends), 'all on disk')
  await db.close()
})
