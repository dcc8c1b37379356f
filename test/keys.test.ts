// Properties of the key codecs, the record codecs and generated ids: round trips, checksums
// that catch any flipped byte, and byte order that matches the order the log needs.
import t from 'tap'
import fc from 'fast-check'
import type { ReadyEvent } from '../src/backend/backend.js'
import { Writer } from '../src/backend/level/bytes.js'
import { ChunkBuilder, logKey, logKeyPosition, parseChunk } from '../src/backend/level/chunk.js'
import { eventSize, readEvent, writeEvent } from '../src/backend/level/event-record.js'
import { decodeIdEntry, encodeIdEntry } from '../src/backend/level/ids.js'
import { encodeBlock, parseBlock } from '../src/backend/level/stream-block.js'
import { decodeSummary, encodeSummary } from '../src/backend/level/stream-index.js'
import { newEventId } from '../src/log/event-id.js'
import { encode } from '../src/storage/codec.js'
import { parseStreamKey, readU64, streamKey, u64 } from '../src/storage/keys.js'
import { formatUuid, parseUuid } from '../src/storage/uuid.js'

const position = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const stream = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter(s => !s.includes('\u0000'))
const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 })

t.test('u64 round-trips and sorts like the numbers', async t => {
  fc.assert(fc.property(position, position, (a, b) => {
    const [ka, kb] = [u64(a), u64(b)]
    return readU64(ka, 0) === a && Math.sign(Buffer.compare(ka, kb)) === Math.sign(a - b)
  }))
  t.equal(readU64(Buffer.from([0, 0x20, 0, 0, 0, 0, 0, 0]), 0), undefined, 'past 2^53 is refused')
  t.equal(logKeyPosition(logKey(123456789)), 123456789)
  t.equal(logKeyPosition(Buffer.from('S')), undefined)
})

t.test('stream keys group by stream and sort by revision', async () => {
  fc.assert(fc.property(stream, stream, position, position, (s1, s2, r1, r2) => {
    const [k1, k2] = [streamKey(s1, r1), streamKey(s2, r2)]
    const parsed = parseStreamKey(k1)
    if (parsed?.stream !== s1 || parsed.revision !== r1) return false
    if (s1 === s2) return Math.sign(Buffer.compare(k1, k2)) === Math.sign(r1 - r2)
    // a stream's keys never interleave with another's: they compare as the names' prefix does
    return Math.sign(Buffer.compare(k1, k2)) === Math.sign(Buffer.compare(Buffer.concat([Buffer.from(s1), Buffer.from([0])]), Buffer.concat([Buffer.from(s2), Buffer.from([0])])))
  }))
})

// `__proto__` keys are refused at append (they do not come back as they were): not generated here
const plainJson = fc.jsonValue().filter(v => !JSON.stringify(v).includes('__proto__'))
const readyEvent = fc.record({
  id: fc.oneof(name, fc.constant(undefined)),
  type: name,
  version: fc.integer({ min: 1, max: 1000 }),
  tags: fc.oneof(fc.constant(undefined), fc.array(name, { maxLength: 4 })),
  data: plainJson,
  metadata: fc.oneof(fc.constant(undefined), fc.dictionary(name.filter(k => k !== '__proto__'), plainJson, { minKeys: 1 })),
  sealed: fc.boolean(),
  indexed: fc.boolean()
}).map(r => ({
  id: r.id ?? newEventId(),
  indexed: r.indexed,
  fresh: false,
  type: r.type,
  version: r.version,
  tags: r.tags,
  data: encode(r.data),
  metadata: r.metadata === undefined ? undefined : encode(r.metadata),
  sealed: r.sealed,
  digest: undefined,
  value: { data: r.data, metadata: r.metadata ?? {} }
}) satisfies ReadyEvent)

t.test('an event\'s bytes round-trip, and a chunk of them too; any flipped byte is caught', async t => {
  fc.assert(fc.property(stream, fc.integer({ min: 0, max: 2 ** 40 }), fc.array(readyEvent, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 2 ** 45 }), (s, first, events, time) => {
    const chunk = new ChunkBuilder(first, time)
    for (const [i, e] of events.entries()) {
      const w = new Writer(eventSize(s, e))
      writeEvent(w, s, 10 + i, e)
      chunk.add(w.done())
    }
    const { key, value } = chunk.finish()
    const parsed = parseChunk(key, value)
    if (parsed.first !== first || parsed.count !== events.length || parsed.time !== time) return false
    for (const [i, e] of events.entries()) {
      const back = readEvent(parsed.buffer, parsed.spans[2 * i]!, parsed.spans[2 * i + 1]!, first + i, time)!
      const expected = { id: e.id, stream: s, revision: 10 + i, position: first + i, type: e.type, version: e.version, data: e.value.data, metadata: e.value.metadata, time, ...(e.tags !== undefined && e.tags.length > 0 ? { tags: e.tags } : {}) }
      if (JSON.stringify(back) !== JSON.stringify(expected)) return false
    }
    // one flipped bit anywhere: the chunk is refused
    const flipped = Buffer.from(value)
    const at = (first * 7 + time) % flipped.length
    flipped[at] = flipped[at]! ^ 1
    try {
      parseChunk(key, flipped)
      return false
    } catch (err) {
      return (err as { code?: string }).code === 'ANNALS_CORRUPT'
    }
  }))
  t.throws(() => parseChunk(logKey(5), new ChunkBuilder(4, 0).finish().value), { code: 'ANNALS_CORRUPT' }, 'a chunk under another key')
})

t.test('blocks, summaries and id entries round-trip and carry checksums', async t => {
  fc.assert(fc.property(stream, fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 5000 }), fc.uint8Array({ maxLength: 40 })), { minLength: 1, maxLength: 30 }), (s, parts) => {
    let position = 0
    let time = 1_700_000_000_000
    const events = parts.map(([gap, dt, bytes], i) => ({ revision: 7 + i, position: position += gap, time: time += dt, bytes: Buffer.from(bytes) }))
    const block = parseBlock(s, streamKey(s, 7), encodeBlock(events))
    return block.first === 7 && block.count === events.length &&
      events.every((e, i) => block.positions[i] === e.position && block.times[i] === e.time &&
        block.buffer.subarray(block.spans[2 * i]!, block.spans[2 * i + 1]!).equals(e.bytes))
  }))
  const summary = { revision: 41, position: 2 ** 50, time: Date.now() }
  t.same(decodeSummary('s', encodeSummary(summary)), summary)
  const entry = { position: 12, revision: 3, digest: Buffer.alloc(16, 7) }
  t.same(decodeIdEntry('x', encodeIdEntry(entry)), entry)
  for (const damaged of [encodeSummary(summary), encodeIdEntry(entry), encodeBlock([{ revision: 0, position: 0, time: 0, bytes: Buffer.from('abc') }])]) {
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 0x10
  }
  const bad = encodeSummary(summary)
  bad[5] = bad[5]! ^ 1
  t.throws(() => decodeSummary('s', bad), { code: 'ANNALS_CORRUPT' })
  // id entries carry no checksum (every use reads the event they name, whose chunk has one):
  // an entry that does not parse is still refused
  t.throws(() => decodeIdEntry('x', Buffer.from([0x80])), { code: 'ANNALS_CORRUPT' })
})

t.test('generated ids are UUIDv7: canonical, unique, in time order', async t => {
  const time = fc.integer({ min: 0, max: 2 ** 48 - 1 })
  fc.assert(fc.property(time, time, (t1, t2) => {
    const [a, b] = [newEventId(t1), newEventId(t2)]
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a)) return false
    if (formatUuid(parseUuid(a)!) !== a) return false
    return t1 === t2 || Math.sign(a < b ? -1 : 1) === Math.sign(t1 - t2)
  }))
  const ids = new Set(Array.from({ length: 10000 }, () => newEventId(1)))
  t.equal(ids.size, 10000, 'ids made in the same millisecond differ')
  for (const other of ['', 'cmd-1', '0190A6B2-1234-7ABC-8DEF-0123456789AB', '0190a6b2-1234-7abc-8def-0123456789ab-']) {
    t.equal(parseUuid(other), undefined, other)
  }
})
