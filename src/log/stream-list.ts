// Listing streams: every stream of the log with its last revision, in the byte order of names.
// The stream index on disk has a block per stream and run of events up to its marker; the
// events after the marker are in the log only (their index waits in memory, see
// stream-index.ts), so the listing merges the blocks with those records, read again here.
import { AnnalsError } from '../errors.js'
import { Space, namedKey, parseStreamKey, prefixRange } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { logChunks } from './reader.js'
import { decodeEntry, indexedUpTo } from './stream-index.js'

/** A stream, its last revision and the position of that event. */
export interface StreamSummary {
  stream: string
  revision: number
  position: number
}

const CHUNK = 256

/**
 * Every stream whose name starts with `prefix`, with its last revision, in the byte order of
 * their UTF-8 names. Memory holds the streams of the records after the index marker (a few
 * thousand events' worth at most) and one stream of the disk index at a time. Streams
 * appended while the listing runs may or may not be in it.
 */
export async function * listStreams (storage: Storage, prefix = ''): AsyncGenerator<StreamSummary> {
  const tail = await tailStreams(storage, prefix)
  const { gte: start, lt: end } = prefixRange(namedKey(Space.streams, prefix))
  let t = 0
  // the newest block of the stream being read
  let current: { name: Buffer, key: Buffer, value: Buffer } | undefined
  /** The tail's streams that sort before the current one, then the current one (the tail is newer than the disk). */
  function * finish (): Generator<StreamSummary> {
    if (current === undefined) return
    for (; t < tail.length && Buffer.compare(tail[t]!.name, current.name) < 0; t++) yield tail[t]!.summary
    if (t < tail.length && tail[t]!.name.equals(current.name)) {
      yield tail[t++]!.summary
    } else {
      const stream = current.name.toString('utf8')
      const last = decodeEntry(current.key, current.value, stream).at(-1)!
      yield { stream, revision: last.revision + last.count - 1, position: last.position + last.count - 1 }
    }
  }
  const it = storage.entries({ gte: start, lt: end })
  try {
    for (let entries = await it.nextv(CHUNK); entries.length > 0; entries = await it.nextv(CHUNK)) {
      for (const [key, value] of entries) {
        if (parseStreamKey(key) === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The stream index holds a malformed key (${key.toString('hex')})`)
        const name = key.subarray(1, key.length - 9)
        if (current !== undefined && !current.name.equals(name)) yield * finish()
        current = { name, key, value }
      }
    }
  } finally {
    await it.close()
  }
  yield * finish()
  for (; t < tail.length; t++) yield tail[t]!.summary
}

/** The streams of the records after the index marker, sorted by name bytes. */
async function tailStreams (storage: Storage, prefix: string): Promise<Array<{ name: Buffer, summary: StreamSummary }>> {
  const from = await indexedUpTo(storage) + 1
  const last = new Map<string, StreamSummary>()
  const chunks = logChunks(storage, { from, to: undefined, backwards: false, limit: Infinity })
  try {
    for (let chunk = await chunks.next(); chunk.length > 0; chunk = await chunks.next()) {
      for (const e of chunk) {
        if (e.stream.startsWith(prefix)) last.set(e.stream, { stream: e.stream, revision: e.revision, position: e.position })
      }
    }
  } finally {
    await chunks.close()
  }
  return [...last.values()]
    .map(summary => ({ name: Buffer.from(summary.stream, 'utf8'), summary }))
    .sort((a, b) => Buffer.compare(a.name, b.name))
}
