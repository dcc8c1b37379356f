// Listing streams: every stream with its last revision, in the byte order of names, from the
// streams' summaries on disk merged with the streams of the tail (events not yet in blocks).
import { Space, namedKey, prefixRange } from '../../storage/keys.js'
import type { Storage } from '../../storage/storage.js'
import type { StreamListOptions, StreamSummary } from '../backend.js'
import type { Rules } from './rules.js'
import { decodeSummary, type StreamIndex } from './stream-index.js'

const CHUNK = 256

/**
 * Every stream whose name starts with `prefix` (and sorts after `after`), with its last
 * revision, in the byte order of their UTF-8 names, up to `limit`. Memory holds the tail's
 * streams (a few thousand at most) and one chunk of summaries. Streams appended while the
 * listing runs may or may not be in it.
 */
export async function * listStreams (storage: Storage, index: StreamIndex, options: StreamListOptions, rules?: Rules): AsyncGenerator<StreamSummary> {
  const { prefix, after, limit } = options
  if (limit <= 0) return
  // a stream that reads nothing any more (tombstoned, or deleted and not written since) is not listed
  const gone = (s: StreamSummary): boolean => {
    const rule = rules?.stream(s.stream)
    return rule !== undefined && (rule.tombstoned || rule.truncateBefore > s.revision)
  }
  const afterName = after === undefined ? undefined : Buffer.from(after, 'utf8')
  const tail = [...index.tailStreams()]
    .filter(([stream]) => stream.startsWith(prefix))
    .map(([stream, e]) => ({ name: Buffer.from(stream, 'utf8'), summary: { stream, revision: e.revision, position: e.position, time: e.time } }))
    .filter(t => afterName === undefined || Buffer.compare(t.name, afterName) > 0)
    .sort((a, b) => Buffer.compare(a.name, b.name))
  let t = 0
  let given = 0
  const range = prefixRange(namedKey(Space.summaries, prefix))
  const gt = afterName === undefined ? undefined : namedKey(Space.summaries, after!)
  const it = storage.entries(gt !== undefined && Buffer.compare(gt, range.gte) >= 0 ? { gt, lt: range.lt } : range)
  try {
    for (let entries = await it.nextv(CHUNK); entries.length > 0; entries = await it.nextv(CHUNK)) {
      for (const [key, value] of entries) {
        const name = key.subarray(1)
        // the tail's streams that sort before this one come first; the tail is newer than the disk
        for (; t < tail.length && Buffer.compare(tail[t]!.name, name) < 0; t++) {
          if (gone(tail[t]!.summary)) continue
          yield tail[t]!.summary
          if (++given >= limit) return
        }
        let summary: StreamSummary
        if (t < tail.length && tail[t]!.name.equals(name)) {
          summary = tail[t++]!.summary
        } else {
          const stream = name.toString('utf8')
          summary = { stream, ...decodeSummary(stream, value) }
        }
        if (gone(summary)) continue
        yield summary
        if (++given >= limit) return
      }
    }
  } finally {
    await it.close()
  }
  for (; t < tail.length; t++) {
    if (gone(tail[t]!.summary)) continue
    yield tail[t]!.summary
    if (++given >= limit) return
  }
}
