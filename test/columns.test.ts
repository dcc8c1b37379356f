// Events' data in the column layout (src/storage/columns.ts): it reads back exactly as the same
// value stored as a map does, refuses bytes that are not such a value, is what LevelDB stores
// from format 3 on, and a database of format 2 (data as maps) opens, reads and takes appends.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { unpack } from 'msgpackr'
import { open } from '../src/index.js'
import { COLUMNS } from '../src/storage/columns.js'
import { decode, decodeRange, encode, encodeData } from '../src/storage/codec.js'
import { parseChunk } from '../src/backend/level/chunk.js'
import { eventParts } from '../src/backend/level/event-record.js'
import { tempDir } from './helpers/backends.js'
import { verifyFolder } from './helpers/verify.js'
import { MemoryLevel } from 'memory-level'
import type { AbstractLevel } from 'abstract-level'
import { LevelDoor } from '../src/backend/level/door.js'
import { verifyStorage, type Report } from '../src/cli/verify-checks.js'
import type { Annals } from '../src/index.js'

const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

/** The value and the order of its keys, at every depth: what must read back the same. */
function shape (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape)
  if (typeof value === 'object' && value !== null && !(value instanceof Date) && !ArrayBuffer.isView(value)) {
    return Object.entries(value).map(([k, v]) => [k, shape(v)])
  }
  return value
}

t.test('a plain object reads back as the same object would as a map: values, and keys in order', async t => {
  const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('0', '1', '10', '-1', '__proto__', 'constructor', 'toString', '"', '\\', 'a b', 'é', '😀'))
  const leaf = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.date({ noInvalidDate: true }))
  const { value } = fc.letrec(tie => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 6 }))
  }))
  const top = fc.oneof(fc.dictionary(key, value, { minKeys: 0, maxKeys: 80 }), value)
  fc.assert(fc.property(top, v => {
    const columns = encodeData(v)
    const map = encode(v)
    const fromColumns = decode(columns)
    const fromMap = decode(map)
    t.same(shape(fromColumns), shape(fromMap))
    if (shape(fromColumns) === undefined) return
    // a value read from the middle of a larger buffer, as a chunk holds it
    const framed = Buffer.concat([Buffer.from([1, 2, 3]), columns, Buffer.from([4])])
    t.same(shape(decodeRange(framed, 3, 3 + columns.length)), shape(fromMap))
  }), { numRuns: 500 })
  t.end()
})

t.test('which objects take the column layout', async t => {
  t.equal(encodeData({ a: 1, b: 'x' })[0], COLUMNS, 'a plain object')
  t.not(encodeData({})[0], COLUMNS, 'not an empty one')
  t.not(encodeData([1, 2])[0], COLUMNS, 'not an array')
  t.not(encodeData('text')[0], COLUMNS, 'not a string')
  t.not(encodeData(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])))[0], COLUMNS, 'not one of more than 64 keys')
  t.not(encodeData(JSON.parse('{"__proto__": 1, "a": 2}'))[0], COLUMNS, 'not one with a key __proto__')
  t.not(encodeData(Object.assign(Object.create(null), { a: 1 }))[0], COLUMNS, 'not one without Object.prototype')
  t.not(encode({ a: 1 })[0], COLUMNS, 'and encode (views, snapshots, the rest) keeps maps')
  t.same(encodeData({ a: 1, b: 'x' }), encodeData({ a: 1, b: 'x' }), 'the same value, the same bytes (a retry compares them)')
})

t.test('keys too long for the layout\'s header stay a map, and read back whole', async t => {
  // the keys' length is a varint of at most 3 bytes (under 2^21): an event of the default
  // maxEventSize (4 MiB) may hold longer keys than that
  for (const n of [100, 20_000, 2_100_000]) {
    const v = { ['k'.repeat(n)]: 1, b: 2 }
    const bytes = encodeData(v)
    const read = decode(bytes) as Record<string, unknown>
    t.same([Object.keys(read).map(k => k.length), read.b], [[n, 1], 2], `a key of ${n} characters`)
    t.equal(bytes[0] === COLUMNS, n < 0x4000, n < 0x4000 ? 'in columns' : 'as a map')
  }
  // what the layout held before (keys of 2^14 to 2^21 bytes, a header of 3 bytes) still reads
  const keys = encode(['k'.repeat(20_000)])
  const k = keys.length
  const before = Buffer.concat([Buffer.from([COLUMNS, (k & 0x7f) | 0x80, ((k >>> 7) & 0x7f) | 0x80, k >>> 14]), keys, encode([1])])
  t.same(decode(before), { ['k'.repeat(20_000)]: 1 })
})

t.test('objects of one shape, many times: built the same before and after the shape is compiled', async t => {
  for (let i = 0; i < 20; i++) {
    const v = { n: i, title: `t${i}`, nested: { deep: [i] } }
    const read = decode(encodeData(v)) as Record<string, unknown>
    t.same(read, v)
    t.same(Object.keys(read), ['n', 'title', 'nested'])
    t.equal(Object.getPrototypeOf(read), Object.prototype)
  }
})

t.test('bytes that are not a value in the column layout are refused, never read as another value', async t => {
  const good = encodeData({ a: 1, b: 'two' })
  const keysLength = good[1]!
  const cases: Array<[string, Buffer]> = [
    ['the marker alone', Buffer.from([COLUMNS])],
    ['keys longer than the bytes', Buffer.from([COLUMNS, 0x7f, 0x92])],
    ['a keys\' length that never ends', Buffer.from([COLUMNS, 0xff, 0xff, 0xff, 0xff])],
    ['keys that are not strings', Buffer.concat([Buffer.from([COLUMNS]), lengthPrefixed(encode([1, 2])), encode([1, 2])])],
    ['keys twice', Buffer.concat([Buffer.from([COLUMNS]), lengthPrefixed(encode(['a', 'a'])), encode([1, 2])])],
    ['no keys', Buffer.concat([Buffer.from([COLUMNS]), lengthPrefixed(encode([])), encode([])])],
    ['fewer values than keys', Buffer.concat([good.subarray(0, 2 + keysLength), encode([1])])],
    ['values that are not an array', Buffer.concat([good.subarray(0, 2 + keysLength), encode({ a: 1 })])],
    ['a key __proto__', Buffer.concat([Buffer.from([COLUMNS]), lengthPrefixed(encode(['__proto__'])), encode([{}])])]
  ]
  for (const [what, bytes] of cases) t.throws(() => decode(bytes), Error, what)
})

function lengthPrefixed (bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([bytes.length]), bytes])
}

type Raw = AbstractLevel<Buffer, Buffer, Buffer>

/** A database on one of the two LevelDB-like stores: annals on it, its raw keys while annals is closed, verify. */
interface Store {
  open: () => Promise<Annals>
  raw: <T>(fn: (level: Raw) => Promise<T>) => Promise<T>
  verify: () => Promise<Report>
}

const FORMAT_2 = join(import.meta.dirname, 'fixtures', 'format-2')

/** A store of `kind`, empty or holding a copy of the format-2 fixture. */
async function store (t: Test, kind: 'classic-level' | 'memory-level', fixture: boolean): Promise<Store> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  if (fixture) cpSync(FORMAT_2, dir, { recursive: true })
  const raw = async <T>(fn: (level: Raw) => Promise<T>): Promise<T> => {
    const level = new ClassicLevel<Buffer, Buffer>(dir, BUFFERS)
    await level.open()
    try {
      return await fn(level as unknown as Raw)
    } finally { await level.close() }
  }
  if (kind === 'classic-level') return { open: async () => await open(dir), raw, verify: async () => await verifyFolder(dir) }
  // memory-level: the fixture's entries put into it as they are
  const level = new MemoryLevel<Buffer, Buffer>(BUFFERS)
  t.teardown(async () => { await level.close() })
  if (fixture) await level.batch(await raw(async l => (await l.iterator().all()).map(([key, value]) => ({ type: 'put' as const, key, value }))))
  return {
    open: async () => await open({ level }),
    raw: async fn => await fn(level as unknown as Raw),
    verify: async () => {
      const door = await LevelDoor.openLevel(level)
      try {
        return await verifyStorage(door, () => {})
      } finally { await door.close() }
    }
  }
}

/** The stored data of every event of the log. */
async function storedData (level: Raw): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const [key, value] of level.iterator({ gte: Buffer.from('L'), lt: Buffer.from('M') })) {
    const chunk = parseChunk(key, value)
    for (let i = 0; i < chunk.count; i++) out.push(Buffer.from(eventParts(chunk.buffer, chunk.spans[2 * i]!, chunk.spans[2 * i + 1]!).data))
  }
  return out
}

for (const kind of ['classic-level', 'memory-level'] as const) {
  t.test(`${kind} stores events' data in the column layout`, async t => {
    const s = await store(t, kind, false)
    const db = await s.open()
    await db.append('s', [{ type: 'A', data: { n: 1, title: 'x' } }, { type: 'B', data: [1] }])
    await db.close()
    const data = await s.raw(storedData)
    t.equal(data[0]![0], COLUMNS, 'an object: columns')
    t.same(unpack(data[1]!), [1], 'an array: as MessagePack')
  })

  t.test(`${kind}: a database of format 2 (data as maps, written by the version before) opens, reads and takes appends`, async t => {
    const s = await store(t, kind, true)
    const before = await s.raw(storedData)
    t.equal(before.length, 5, 'the fixture\'s five events')
    t.ok(before.every(d => d[0] !== COLUMNS), 'the fixture holds maps only')

    const db = await s.open()
    const expected = [
      ['photos-1', 'PhotoAdded', { title: 'Dunes', size: 2400000, tags: ['desert', 'sunset'], camera: { make: 'Fujifilm', model: 'X-T4' } }, {}],
      ['photos-1', 'PhotoRenamed', { title: 'Dunes at dusk' }, { by: 'ann' }],
      ['photos-2', 'PhotoAdded', { title: 'Harbour', size: 1200000, tags: [], camera: null }, {}],
      ['photos-2', 'Note', 'a string as data', {}],
      ['photos-2', 'Pair', [1, 2], {}]
    ]
    t.same((await db.readAll().toArray()).map(e => [e.stream, e.type, e.data, e.metadata]), expected)
    // a retry of the first append, by its id, is answered as the first time though its bytes are maps
    const retry = await db.append('photos-1', { type: 'PhotoAdded', data: { title: 'Dunes', size: 2400000, tags: ['desert', 'sunset'], camera: { make: 'Fujifilm', model: 'X-T4' } }, id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' })
    t.same([retry.position, retry.revision], [0, 0], 'a retry across the layouts is recognised')
    await t.rejects(db.append('photos-1', { type: 'PhotoAdded', data: { title: 'Other' }, id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b' }), { code: 'ANNALS_DUPLICATE_ID' }, 'and other content with its id is not')
    await db.append('photos-2', { type: 'PhotoAdded', data: { title: 'Pier', size: 1 } })
    await db.close()

    const data = await s.raw(storedData)
    t.equal(data.length, 6)
    t.equal(data[5]![0], COLUMNS, 'a new append is in columns')
    const again = await s.open()
    t.same((await again.readAll().toArray()).map(e => [e.stream, e.type, e.data, e.metadata]), [...expected, ['photos-2', 'PhotoAdded', { title: 'Pier', size: 1 }, {}]])
    await again.close()
    t.same((await s.verify()).problems, [], 'annals verify finds nothing wrong')
    t.same(unpack((await s.raw(async level => await level.get(Buffer.from('Mformat'))))!), 3, 'marked format 3 at open: an annals of format 2 refuses it')
  })
}
