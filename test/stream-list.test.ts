// Listing streams merges the index blocks on disk with the records after the index marker,
// whose index waits in memory: every stream once, with its last revision, in byte order.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { listStreams, type StreamSummary } from '../src/log/stream-list.js'
import { indexSettings } from '../src/log/stream-index.js'
import { open } from '../src/index.js'
import { internalsOf } from '../src/store/internals.js'
import { collect } from './helpers/backends.js'

const names = ['b', 'a', 'ab', 'a-1', 'zz', 'é', 'user-10', 'user-2', 'user-1']

/** The expected listing: last revision and position of each stream, sorted by UTF-8 bytes. */
function model (appends: Array<[string, number]>, prefix = ''): StreamSummary[] {
  const last = new Map<string, StreamSummary>()
  appends.forEach(([stream], position) => {
    last.set(stream, { stream, revision: (last.get(stream)?.revision ?? -1) + 1, position })
  })
  return [...last.values()]
    .filter(s => s.stream.startsWith(prefix))
    .sort((a, b) => Buffer.compare(Buffer.from(a.stream), Buffer.from(b.stream)))
}

t.test('disk blocks, the tail, and streams in both', async t => {
  const flush = indexSettings.flushEvents
  indexSettings.flushEvents = 10
  t.teardown(() => { indexSettings.flushEvents = flush })
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  let db = await open({ level })
  t.same(await collect(listStreams(internalsOf(db).log.storage)), [], 'an empty database has no streams')

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
  const storage = internalsOf(db).log.storage
  t.same(await collect(listStreams(storage)), model(appends))
  t.same(await collect(listStreams(storage, 'user-')), model(appends, 'user-'), 'a prefix')
  t.same(await collect(listStreams(storage, 'a')), model(appends, 'a'), 'a prefix that is also a name')
  t.same(await collect(listStreams(storage, 'nothing')), [], 'a prefix nothing has')

  // after close the index is all on disk; after reopening, the same listing
  await db.close()
  db = await open({ level })
  t.same(await collect(listStreams(internalsOf(db).log.storage)), model(appends), 'all on disk')
  await db.close()
})
