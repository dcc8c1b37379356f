// Bad input, case by case: read bounds, unknown option keys in every options and definition
// object, event data that would not read back as it was appended, deep values and cycles.
// Every call that fails must change nothing. (Generated garbage: validation-fuzz.test.ts.)
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { inspect, isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import {
  LevelKeyStore, MemoryKeyStore, defineAggregate, defineProjection, open, type Annals, type RecordedEvent
} from '../src/index.js'
import { encode, UnencodableError } from '../src/storage/codec.js'
import { MAX_DEPTH, inexact } from '../src/storage/exact.js'
import { collect, tempDir } from './helpers/backends.js'

async function memoryDb (): Promise<Annals> {
  const level = new MemoryLevel()
  const db = await open({ level }, { keyStore: new MemoryKeyStore() })
  t.teardown(async () => { await db.close(); await level.close() })
  return db
}

/** Everything a failed call must leave as it was. */
async function state (db: Annals): Promise<unknown> {
  return { all: await collect(db.readAll()), s: await db.revision('s') }
}

const Counter = defineAggregate({ name: 'counter', initial: () => 0, evolve: n => n + 1 })

/** `levels` objects nested in one another (the innermost holds 1). */
function nested (levels: number, array = false): unknown {
  let value: unknown = 1
  for (let i = 0; i < levels; i++) value = array ? [value] : { a: value }
  return value
}

t.test('from and to are integers >= 0; Infinity is refused, not read as the whole log', async t => {
  const db = await memoryDb()
  await db.append('s', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
  const bad = [
    { from: Infinity }, { backwards: true, to: Infinity }, { to: Infinity }, { from: -Infinity },
    { from: -1 }, { to: -1 }, { from: 1.5 }, { from: NaN }, { to: NaN }, { from: '1' }, { from: 2 ** 53 }, { from: null }
  ]
  for (const options of bad) {
    await t.rejects(collect(db.readAll(options as never)), TypeError, `readAll ${inspect(options)}`)
    await t.rejects(collect(db.readStream('s', options as never)), TypeError, `readStream ${inspect(options)}`)
  }
  t.same((await collect(db.readAll({ limit: Infinity }))).map(e => e.type), ['A', 'B', 'C'], 'limit may be Infinity')
  t.same((await collect(db.readAll({ from: 5 }))).length, 0, 'a bound past the end is fine')
  t.same((await collect(db.readAll({ backwards: true, from: 2 ** 53 - 1, to: 1 }))).map(e => e.type), ['C', 'B'])
})

t.test('unknown option keys are TypeErrors, in every options and definition object', async t => {
  const db = await memoryDb()
  const event = { type: 'Opened' }
  const before = await state(db)
  await t.rejects(db.append('s', event, { expectedRevison: 0 } as never), TypeError, 'append: a misspelt expectedRevision')
  await t.rejects(db.append('s', event, Object.create({ expectedRevison: 0 })), TypeError, 'append: an inherited unknown key')
  t.same(await state(db), before, 'nothing was appended')
  await t.rejects(collect(db.readStream('s', { types: ['Opened'] } as never)), TypeError, 'readStream has no types')
  await t.rejects(collect(db.readStream('s', { form: 0 } as never)), TypeError, 'readStream')
  await t.rejects(collect(db.readAll({ form: 0 } as never)), TypeError, 'readAll')
  t.throws(() => db.subscribe({ form: 0 } as never, () => {}), TypeError, 'subscribe')
  await t.rejects(db.load(Counter, 's', { at: { revision: 0 }, snapshots: false } as never), TypeError, 'load')
  await t.rejects(db.load(Counter, 's', { at: { revision: 0, time: 1 } } as never), TypeError, 'load: at with two keys')
  await t.rejects(db.load(Counter, 's', { at: { revison: 0 } } as never), TypeError, 'load: at with an unknown key')
  t.throws(() => defineAggregate({ name: 'a', initial: () => 0, evolve: (n: number) => n, snapshotevery: 5 } as never), TypeError, 'defineAggregate')
  const handle = (): void => {}
  t.throws(() => defineProjection({ name: 'p', handle, verison: 2 } as never), TypeError, 'defineProjection')
  await t.rejects(db.project({ name: 'p', handle, mod: 'inline' } as never), TypeError, 'project of options')
  const p = await db.project(defineProjection({ name: 'p', handle }))
  await t.rejects(collect(p.query({ limt: 1 } as never)), TypeError, 'query')
  await t.rejects(p.at({ position: 0, tme: 1 } as never), TypeError, 'at')
  t.throws(() => { db.definePersonalData('Registered', { subject: 'user', fields: ['email'], feilds: ['name'] } as never) }, TypeError, 'definePersonalData')
  t.same(await state(db), before)

  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  await t.rejects(open({ level }, { keyStore: new MemoryKeyStore(), synk: true } as never), TypeError, 'open')
  await t.rejects(open({ level, sublevel: 'x' } as never), TypeError, 'open: the location object')
  t.same(await level.keys().all(), [], 'a refused open wrote nothing')
  const { dir, remove } = tempDir()
  t.teardown(remove)
  await t.rejects(open(join(dir, 'db'), { personalData: { Registered: { subject: 'user' } } } as never), TypeError, 'open: a bad declaration')
  await t.rejects(open(join(dir, 'db'), { personalData: { Registered: { subject: 'user', fields: ['email'], fieds: [] } } } as never), TypeError, 'open: an unknown key in a declaration')
  t.notOk(existsSync(join(dir, 'db')), 'a refused open made no folder')
  t.throws(() => new LevelKeyStore(join(dir, 'keys'), { masterkey: Buffer.alloc(32) } as never), TypeError, 'LevelKeyStore')
})

/** Values that read back exactly as they were appended. */
const exact: Array<[string, unknown]> = [
  ['an object', { a: 1, b: 'two', c: [true, false, null], d: { e: {} } }],
  ['keys that are numbers, or look like __proto__', { 1: 'one', 0: 'zero', __proto_: 1, ___proto__: 2, constructor: 'c', hasOwnProperty: 3 }],
  ['undefined inside', { a: undefined, b: [undefined, 1] }],
  ['numbers', [0, 1.5, -2, 2 ** 53 - 1, -(2 ** 53 - 1), 1e308, 5e-324, NaN, Infinity, -Infinity]],
  ['bigints', [0n, -(2n ** 63n), 2n ** 64n - 1n, 12345678901234567890n]],
  ['strings', ['', 'é', '😀', 'a\u0000b', 'x'.repeat(100_000), '\uFFFD']],
  ['Dates', [new Date(0), new Date(-1e15), new Date(8.64e15), new Date(1_700_000_000_123)]],
  ['bytes', Buffer.from([0, 1, 255])],
  ['a string', 'just a string'],
  ['null', null],
  // metadata { value } is one level more
  [`${MAX_DEPTH - 1} levels of objects`, nested(MAX_DEPTH - 1)],
  [`${MAX_DEPTH - 1} levels of arrays`, nested(MAX_DEPTH - 1, true)]
]

/** Values that would not read back as they were: refused with ANNALS_INVALID_EVENT. */
class Photo { constructor (readonly id = 'p1') {} }
class Stamp extends Date {}
const refused: Array<[string, unknown]> = [
  ['a key __proto__ (as JSON.parse makes it)', JSON.parse('{"a": 1, "__proto__": {"admin": true}}')],
  ['-0', -0],
  ['-0 inside', { balance: Math.round(-0.4) }],
  ['-0 in an array', [1, -0]],
  ['a Set', new Set([1, 2])],
  ['a Map', new Map([['a', 1]])],
  ['a Map with object keys', new Map([[{}, 1]])],
  ['a RegExp', /photo-\d+/g],
  ['an Error', new Error('lost')],
  ['a symbol key', { a: 1, [Symbol('s')]: 2 }],
  ['a symbol', Symbol('s')],
  ['a function', () => 1],
  ['a key __proto__ in an object without a prototype', Object.defineProperty(Object.create(null), '__proto__', { value: 1, enumerable: true })],
  ['a class instance', new Photo()],
  ['a Date subclass', new Stamp(0)],
  ['a Uint16Array', new Uint16Array([1, 2])],
  ['a Float64Array', new Float64Array([1.5])],
  ['an ArrayBuffer', new ArrayBuffer(4)],
  ['a DataView', new DataView(new ArrayBuffer(4))],
  ['a sparse array', [1, , 3]], // eslint-disable-line no-sparse-arrays
  ['a lone surrogate', 'a\uD800b'],
  ['a key with a lone surrogate', { '\uDC00': 1 }],
  ['a boxed string', new String('s')], // eslint-disable-line no-new-wrappers
  ['a promise', Promise.resolve(1)],
  ['a WeakMap', new WeakMap()],
  ['a bigint beyond 64 bits', 2n ** 64n],
  ['a deep acyclic value', nested(MAX_DEPTH + 1)],
  ['a value deeper than the stack', nested(100_000)]
]

function sameValue (actual: unknown, expected: unknown): boolean {
  return isDeepStrictEqual(actual, expected)
}

t.test('data and metadata read back exactly', async t => {
  const db = await memoryDb()
  for (const [name, value] of exact) {
    await db.append('s', { type: 'T', data: value, metadata: { value } })
    const [event] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
    t.ok(sameValue(event.data, value), `data: ${name}`)
    t.ok(sameValue(event.metadata, { value }), `metadata: ${name}`)
  }
  for (const deepest of [nested(MAX_DEPTH), nested(MAX_DEPTH, true)]) {
    await db.append('s', { type: 'T', data: deepest })
    const [event] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
    t.ok(sameValue(event.data, deepest), `data ${MAX_DEPTH} levels deep`)
  }
  // two read back as their closest kin: a Uint8Array is bytes, read as a Buffer
  await db.append('s', { type: 'T', data: new Uint8Array([1, 2]) })
  const [bytes] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
  t.ok(Buffer.isBuffer(bytes.data) && bytes.data.equals(Buffer.from([1, 2])), 'a Uint8Array reads back as a Buffer of the same bytes')
  const groups = Object.assign(Object.create(null), { a: [1], b: [2] })
  await db.append('s', { type: 'T', data: groups })
  const [grouped] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
  t.ok(sameValue(grouped.data, { ...groups }), 'an object without a prototype reads back as a plain object with the same content')
  await db.append('s', { type: 'T', data: new Date(NaN) })
  const [invalid] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
  t.ok(invalid.data instanceof Date && Number.isNaN(invalid.data.getTime()), 'an invalid Date reads back as one')
})

t.test('data and metadata that would not read back exactly are refused, and nothing is written', async t => {
  const db = await memoryDb()
  await db.append('s', { type: 'Before' })
  const before = await state(db)
  for (const [name, value] of refused) {
    await t.rejects(db.append('s', { type: 'T', data: value }), { code: 'ANNALS_INVALID_EVENT' }, `data: ${name}`)
    await t.rejects(db.append('s', { type: 'T', data: { list: [{ value }] } }), { code: 'ANNALS_INVALID_EVENT' }, `inside data: ${name}`)
    await t.rejects(db.append('s', { type: 'T', metadata: { value } }), { code: 'ANNALS_INVALID_EVENT' }, `metadata: ${name}`)
    await t.rejects(db.append('s', [{ type: 'Fine' }, { type: 'T', data: value }]), { code: 'ANNALS_INVALID_EVENT' }, `second event: ${name}`)
  }
  t.same(await state(db), before, 'nothing was written')
})

t.test('a deep value is refused as too deep, a cycle as a cycle', async t => {
  const db = await memoryDb()
  const cycle: Record<string, unknown> = { a: 1 }
  cycle.self = cycle
  const deepCycle = nested(300) as Record<string, unknown>
  let inner = deepCycle
  while (typeof inner.a === 'object') inner = inner.a as Record<string, unknown>
  inner.back = deepCycle
  const cases: Array<[string, unknown, string]> = [
    ['deep objects', nested(MAX_DEPTH + 1), 'depth'],
    ['deep arrays', nested(MAX_DEPTH + 1, true), 'depth'],
    ['deeper than the stack', nested(50_000), 'depth'],
    ['a cycle', cycle, 'cycle'],
    ['a cycle below the depth limit', deepCycle, 'cycle'],
    ['a cycle through an array', (() => { const a: unknown[] = []; a.push({ a }); return a })(), 'cycle']
  ]
  for (const [name, value, kind] of cases) {
    const err = await db.append('s', { type: 'T', data: value }).then(() => undefined, (err: unknown) => err)
    t.match(err, { code: 'ANNALS_INVALID_EVENT' }, name)
    t.match((err as Error).cause, { kind }, `${name}: reported as ${kind}`)
    t.equal(inexact(value)?.kind, kind, `${name}: inexact() says ${kind}`)
  }
  // the codec alone (views, snapshots): a value too deep for msgpackr's stack is not called a cycle
  t.throws(() => encode(nested(50_000)), new UnencodableError('', { kind: 'depth' }), 'the codec: deep')
  t.throws(() => encode(cycle), new UnencodableError('', { kind: 'cycle' }), 'the codec: a cycle')
  t.ok(encode(nested(1000)) instanceof Buffer, 'the codec alone still encodes values deeper than events may be')
  t.equal(await db.revision('s'), -1)
})

t.test('data shared many times over is refused as too large, without walking all of it', async t => {
  const db = await memoryDb()
  let shared: unknown = { photo: 'p'.repeat(10) }
  for (let i = 0; i < 60; i++) shared = { left: shared, right: shared } // 2^60 paths to the leaf
  const err = await db.append('s', { type: 'T', data: shared }).then(() => undefined, (err: unknown) => err)
  t.match(err, { code: 'ANNALS_EVENT_TOO_LARGE' })
  t.ok((err as Error).cause instanceof UnencodableError)
  t.equal(await db.revision('s'), -1)
})

t.test('an idempotent retry of events holding every kind of stored value succeeds', async t => {
  const db = await memoryDb()
  const events = [
    ...exact.map(([name, data], i) => ({ id: `e${i}`, type: name, data, metadata: { at: new Date(i) } })),
    { id: 'bytes', type: 'Bytes', data: { raw: new Uint8Array([1, 2]), buf: Buffer.from('x') } }
  ]
  const first = await db.append('s', events, { expectedRevision: 'no_stream' })
  t.match(await db.append('s', events, { expectedRevision: 'no_stream' }), first, 'the retry returns the first result')
  t.equal(await db.revision('s'), events.length - 1, 'and writes nothing')
})
