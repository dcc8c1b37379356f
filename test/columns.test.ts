// Events' data in the column layout (src/storage/columns.ts): it reads back exactly as the same
// value stored as a map does, refuses bytes that are not such a value, is what LevelDB stores
// from format 3 on, and a database of format 2 (data as maps) opens, reads and takes appends.
import t from 'tap'
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

/** The stored data of every event of the log of the folder `dir`, closed. */
async function storedData (dir: string): Promise<Buffer[]> {
  const level = new ClassicLevel<Buffer, Buffer>(dir, BUFFERS)
  await level.open()
  try {
    const out: Buffer[] = []
    for await (const [key, value] of level.iterator({ gte: Buffer.from('L'), lt: Buffer.from('M') })) {
      const chunk = parseChunk(key, value)
      for (let i = 0; i < chunk.count; i++) out.push(Buffer.from(eventParts(chunk.buffer, chunk.spans[2 * i]!, chunk.spans[2 * i + 1]!).data))
    }
    return out
  } finally { await level.close() }
}

t.test('LevelDB stores events\' data in the column layout', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const db = await open(dir)
  await db.append('s', [{ type: 'A', data: { n: 1, title: 'x' } }, { type: 'B', data: [1] }])
  await db.close()
  const data = await storedData(dir)
  t.equal(data[0]![0], COLUMNS, 'an object: columns')
  t.same(unpack(data[1]!), [1], 'an array: as MessagePack')
})

const FORMAT_2 = join(import.meta.dirname, 'fixtures', 'format-2')

t.test('a database of format 2 (data as maps, written by the version before) opens, reads and takes appends', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  cpSync(FORMAT_2, dir, { recursive: true })
  t.ok((await storedData(dir)).every(d => d[0] !== COLUMNS), 'the fixture holds maps only')

  const db = await open(dir)
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

  const data = await storedData(dir)
  t.equal(data.length, 6)
  t.equal(data[5]![0], COLUMNS, 'a new append is in columns')
  const again = await open(dir)
  t.same((await again.readAll().toArray()).map(e => [e.stream, e.type, e.data, e.metadata]), [...expected, ['photos-2', 'PhotoAdded', { title: 'Pier', size: 1 }, {}]])
  await again.close()
  t.same((await verifyFolder(dir)).problems, [], 'annals verify finds nothing wrong')

  const level = new ClassicLevel<Buffer, Buffer>(dir, BUFFERS)
  await level.open()
  t.same(unpack((await level.get(Buffer.from('Mformat')))!), 3, 'marked format 3 at open: an annals of format 2 refuses it')
  await level.close()
})
