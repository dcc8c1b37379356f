// Properties of the key codecs and generated ids: round trips, and byte order that matches
// the order the log needs.
import t from 'tap'
import fc from 'fast-check'
import { formatEventId, positionInEventId, randomIdBits } from '../src/log/event-id.js'

const generateEventId = (time: number, position: number): string => formatEventId(time, position, randomIdBits())
import { decodeBlock, encodeBlock, type Run } from '../src/log/stream-index.js'
import { logKey, logKeyPosition, parseStreamKey, readU64, streamKey, u64 } from '../src/storage/keys.js'

const position = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const stream = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter(s => !s.includes('\u0000'))

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

t.test('stream index blocks round-trip', async t => {
  // runs at increasing positions with gaps, revisions consecutive from the block's first
  const runs = fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 1, max: 5000 })), { minLength: 1, maxLength: 50 }))
    .map(([start, parts]) => {
      const out: Run[] = []
      let position = start
      let revision = 7
      for (const [gap, count] of parts) {
        out.push({ revision, position, count })
        revision += count
        position += count + gap
      }
      return out
    })
  fc.assert(fc.property(runs, list => JSON.stringify(decodeBlock(7, encodeBlock(list))) === JSON.stringify(list)))
  t.same(decodeBlock(3, encodeBlock([{ revision: 3, position: 2 ** 53 - 10, count: 9 }])), [{ revision: 3, position: 2 ** 53 - 10, count: 9 }])
  for (const bad of [[], [0x80], [5, 0], [5], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1]]) {
    t.equal(decodeBlock(0, Buffer.from(bad)), undefined, `malformed ${JSON.stringify(bad)}`)
  }
})

t.test('generated ids carry their position and sort by time, then position', async t => {
  const time = fc.integer({ min: 0, max: 2 ** 48 - 1 })
  fc.assert(fc.property(time, position, time, position, (t1, p1, t2, p2) => {
    const [a, b] = [generateEventId(t1, p1), generateEventId(t2, p2)]
    if (positionInEventId(a) !== p1 || !/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a)) return false
    if (t1 !== t2 || p1 !== p2) {
      const order = t1 !== t2 ? Math.sign(t1 - t2) : Math.sign(p1 - p2)
      return Math.sign(a < b ? -1 : a > b ? 1 : 0) === order
    }
    return true
  }))
  // 21 random bits tell apart ids of two databases that wrote the same position in the same ms
  const ids = new Set(Array.from({ length: 1000 }, () => generateEventId(1, 1)))
  t.ok(ids.size > 990, `${ids.size} of 1000 ids with the same time and position are distinct`)
  for (const other of ['', 'cmd-1', '0190a6b2-1234-4abc-8def-0123456789ab', '0190A6B2-1234-7ABC-8DEF-0123456789AB']) {
    t.equal(positionInEventId(other), undefined, other)
  }
})
