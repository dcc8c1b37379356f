// Bad input, generated: fast-check feeds every public method and option garbage (wrong types,
// unknown keys, NaN, infinities, -0, negative and huge numbers, strings, symbols, functions,
// nested junk). Each call either succeeds or fails with a TypeError or an AnnalsError with a
// code, a method that returns a promise rejects rather than throws, and a failed call changes
// nothing: the log's head, the streams' revisions and a read of everything are as before. An
// options object with an unknown key, or a read bound of Infinity, never succeeds.
// And any value appended as data either reads back exactly, or is refused, and then only if
// MessagePack would not have brought it back the same.
import { isDeepStrictEqual } from 'node:util'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import {
  AnnalsError, MemoryKeyStore, defineAggregate, defineProjection, open,
  type Annals, type AnnalsErrorCode, type Projection, type RecordedEvent
} from '../src/index.js'
import { decode, encode } from '../src/storage/codec.js'
import { collect, tempDir } from './helpers/backends.js'

const CODES: readonly AnnalsErrorCode[] = [
  'ANNALS_WRONG_EXPECTED_REVISION', 'ANNALS_NOT_OPEN', 'ANNALS_LOCKED', 'ANNALS_INVALID_EVENT',
  'ANNALS_EVENT_TOO_LARGE', 'ANNALS_DUPLICATE_ID', 'ANNALS_CORRUPT', 'ANNALS_UNSUPPORTED_FORMAT',
  'ANNALS_ALREADY_SUBSCRIBED', 'ANNALS_STORAGE', 'ANNALS_WRONG_KEY', 'ANNALS_NO_KEY_STORE', 'ANNALS_SEALED',
  'ANNALS_AGGREGATE_FAILED', 'ANNALS_PROJECTION_FAILED', 'ANNALS_ALREADY_PROJECTED', 'ANNALS_HISTORY_UNAVAILABLE'
]

/** Whether `err` is a failure annals may report: a TypeError, or an AnnalsError with a known code. */
function allowedFailure (err: unknown): boolean {
  return err instanceof TypeError || (err instanceof AnnalsError && CODES.includes(err.code))
}

// ---- garbage ----

const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map(c => String.fromCharCode(c)), minLength: 1, maxLength: 3 })
const strings = fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ maxLength: 8 }), loneSurrogates)
const keys = fc.oneof(strings, fc.constantFrom('__proto__', '__proto_', 'constructor', 'toString', 'hasOwnProperty', 'toJSON', 'valueOf'))
/** Any value, exotic ones included: Maps, Sets, boxed values, typed arrays, sparse arrays, null prototypes, bigints, Dates. */
const anything = fc.anything({
  maxDepth: 3,
  maxKeys: 4,
  key: keys,
  values: [fc.boolean(), fc.integer(), fc.double(), strings, fc.constant(null), fc.constant(undefined), fc.constantFrom(-0, NaN, Infinity, -Infinity)],
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withTypedArray: true,
  withSparseArray: true
})
const special = fc.constantFrom<unknown>(
  NaN, Infinity, -Infinity, -0, -1, 0, 1, 1.5, 2 ** 53, 2 ** 64, -(2 ** 60), Number.MAX_VALUE, Number.MIN_VALUE,
  '', '0', 'end', 'any', 'no_stream', 'stream_exists', 'inline', 'async', 's', 'T', true, false, null, undefined,
  Symbol('junk'), () => {}, async () => {}, [], {}, [[]], new Date(NaN), 10n, '\uD800', 'x'.repeat(5000),
  new Map(), new Set(['T']), Object.create(null), Object.create({ inherited: 1 }), /x/, new Error('junk')
)
const junk: fc.Arbitrary<unknown> = fc.oneof(special, anything)

/** Option objects: known keys and unknown ones, with junk or plausible values. */
function optionsOf (known: readonly string[], plausible: fc.Arbitrary<unknown> = junk): fc.Arbitrary<unknown> {
  const key = fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 4 }, fc.constantFrom('bogus', 'expectedRevison', 'types', '__proto__'), strings)
  return fc.oneof(
    { arbitrary: fc.dictionary(key, fc.oneof(plausible, junk), { maxKeys: 4 }), weight: 4 },
    { arbitrary: junk, weight: 1 },
    { arbitrary: fc.constant(undefined), weight: 1 }
  )
}

const numbers = fc.oneof(fc.integer({ min: -2, max: 4 }), special)
const types = fc.oneof(fc.array(fc.oneof(fc.constantFrom('T', 'U'), junk), { maxLength: 3 }), junk)
const streamName = fc.oneof({ arbitrary: fc.constantFrom('s', 't'), weight: 3 }, junk)
const event = fc.oneof(
  { arbitrary: fc.record({ type: fc.constantFrom('T', 'U'), data: junk }, { requiredKeys: ['type'] }), weight: 2 },
  optionsOf(['type', 'data', 'metadata', 'id'], fc.oneof(fc.constantFrom('T', 'U', 'id-1'), junk, fc.dictionary(keys, junk, { maxKeys: 2 })))
)
const events = fc.oneof(event, fc.array(event, { maxLength: 3 }), junk)

// ---- the calls ----

interface World {
  db: Annals
  projection: Projection
}

/** A call of a public method: `promise` ones must reject rather than throw; `iterable` ones are read to the end. */
interface Call {
  label: string
  kind: 'promise' | 'iterable' | 'sync'
  run: (world: World) => unknown
  /** set when the call must fail: an options object has an unknown key, or a bound is infinite */
  mustFail?: boolean
}

/** Whether `options` is an object with a key (inherited ones too) that is not in `known`. */
function unknownKey (options: unknown, known: readonly string[]): boolean {
  if (typeof options !== 'object' || options === null) return false
  for (const key in options) if (!known.includes(key)) return true
  return false
}

/** Whether read options have an infinite `from` or `to` (Infinity once read as the whole log). */
function infiniteBound (options: unknown): boolean {
  if (typeof options !== 'object' || options === null) return false
  const { from, to } = options as { from?: unknown, to?: unknown }
  return from === Infinity || to === Infinity || from === -Infinity || to === -Infinity
}

const READ = ['from', 'to', 'backwards', 'limit']
const QUERY = ['gt', 'gte', 'lt', 'lte', 'limit', 'reverse']

const Counter = defineAggregate({ name: 'counter', initial: () => 0, evolve: n => n + 1, snapshotEvery: 2 })
const handle = (): void => {}

const calls: fc.Arbitrary<Call> = fc.oneof(
  fc.tuple(streamName, events, optionsOf(['expectedRevision', 'sync'], fc.oneof(numbers, fc.boolean(), junk))).map(([s, e, o]): Call =>
    ({ label: 'append', kind: 'promise', run: w => w.db.append(s as never, e as never, o as never), mustFail: unknownKey(o, ['expectedRevision', 'sync']) })),
  fc.tuple(streamName, optionsOf(READ, fc.oneof(numbers, fc.boolean()))).map(([s, o]): Call =>
    ({ label: 'readStream', kind: 'iterable', run: w => w.db.readStream(s as never, o as never), mustFail: unknownKey(o, READ) || infiniteBound(o) })),
  optionsOf([...READ, 'types'], fc.oneof(numbers, fc.boolean(), types)).map((o): Call =>
    ({ label: 'readAll', kind: 'iterable', run: w => w.db.readAll(o as never), mustFail: unknownKey(o, [...READ, 'types']) || infiniteBound(o) })),
  streamName.map((s): Call => ({ label: 'revision', kind: 'promise', run: w => w.db.revision(s as never) })),
  fc.tuple(fc.oneof(fc.constant(Counter), junk), streamName, optionsOf(['at'], fc.oneof(optionsOf(['revision', 'position', 'time'], numbers), junk))).map(([a, s, o]): Call =>
    ({
      label: 'load',
      kind: 'promise',
      run: w => w.db.load(a as never, s as never, o as never),
      mustFail: unknownKey(o, ['at']) || unknownKey((o as { at?: unknown } | undefined)?.at, ['revision', 'position', 'time'])
    })),
  fc.oneof(fc.constant([Counter]), junk).map((keep): Call => ({ label: 'pruneSnapshots', kind: 'promise', run: w => w.db.pruneSnapshots(keep as never) })),
  optionsOf(['from', 'types', 'name', 'onError'], fc.oneof(numbers, types, fc.constantFrom('mailer', 'end'))).map((o): Call =>
    ({
      label: 'subscribe',
      kind: 'promise',
      run: async w => { const sub = w.db.subscribe(o as never, () => {}); sub.on('error', () => {}); await sub.close() },
      mustFail: unknownKey(o, ['from', 'types', 'name', 'onError'])
    })),
  fc.tuple(junk, optionsOf(['subject', 'fields'], fc.oneof(fc.constantFrom('who', ['email'], ['a.b']), junk))).map(([type, spec]): Call =>
    ({ label: 'definePersonalData', kind: 'sync', run: w => { w.db.definePersonalData(type as never, spec as never) }, mustFail: unknownKey(spec, ['subject', 'fields']) })),
  junk.map((subjects): Call => ({ label: 'shred', kind: 'promise', run: w => w.db.shred(subjects as never) })),
  junk.map((key): Call => ({ label: 'rotateMasterKey', kind: 'promise', run: w => w.db.rotateMasterKey(key as never) })),
  optionsOf(['name', 'initial', 'evolve', 'snapshotEvery', 'version'], fc.oneof(fc.constantFrom('agg', () => 0), numbers)).map((o): Call =>
    ({ label: 'defineAggregate', kind: 'sync', run: () => defineAggregate(o as never), mustFail: unknownKey(o, ['name', 'initial', 'evolve', 'snapshotEvery', 'version', 'fingerprint']) })),
  optionsOf(['name', 'version', 'mode', 'types', 'history', 'handle'], fc.oneof(fc.constantFrom('view', 'inline', handle), numbers, types, fc.boolean())).map((o): Call =>
    ({ label: 'project', kind: 'promise', run: w => w.db.project(o as never), mustFail: unknownKey(o, ['name', 'version', 'mode', 'types', 'history', 'handle', 'fingerprint']) })),
  junk.map((key): Call => ({ label: 'projection.get', kind: 'promise', run: w => w.projection.get(key as never) })),
  optionsOf(QUERY, fc.oneof(strings, numbers, fc.boolean())).map((o): Call =>
    ({ label: 'projection.query', kind: 'iterable', run: w => w.projection.query(o as never), mustFail: unknownKey(o, QUERY) })),
  optionsOf(['position', 'time'], fc.oneof(numbers, fc.date())).map((o): Call =>
    ({ label: 'projection.at', kind: 'promise', run: async w => { const view = await w.projection.at(o as never); await view.get('k') }, mustFail: unknownKey(o, ['position', 'time']) }))
)

type Outcome = { ok: true } | { ok: false, error: unknown }

async function perform (call: Call, world: World): Promise<Outcome> {
  let result: unknown
  try {
    result = call.run(world)
  } catch (error) {
    if (call.kind !== 'sync') return { ok: false, error: new Error(`${call.label} threw instead of rejecting: ${String(error)}`) }
    return { ok: false, error }
  }
  try {
    if (call.kind === 'promise') {
      if (!(result instanceof Promise)) return { ok: false, error: new Error(`${call.label} returned no promise`) }
      await result
    } else if (call.kind === 'iterable') {
      await collect(result as AsyncIterable<unknown>)
    }
    return { ok: true }
  } catch (error) {
    return { ok: false, error }
  }
}

const INVALID_DATE = { 'an invalid Date': true }

/**
 * The value as it should read back: a Uint8Array as a Buffer, an object without a prototype as a
 * plain one; invalid Dates compared by a marker.
 */
function readBack (value: unknown, bytesAsBuffer: boolean): unknown {
  if (value instanceof Date && Object.getPrototypeOf(value) === Date.prototype && Number.isNaN(value.getTime())) return INVALID_DATE
  if (bytesAsBuffer && value instanceof Uint8Array && Object.getPrototypeOf(value) === Uint8Array.prototype) return Buffer.from(value as Uint8Array)
  if (Array.isArray(value)) {
    const out = new Array(value.length)
    for (let i = 0; i < value.length; i++) if (i in value) out[i] = readBack(value[i], bytesAsBuffer)
    return out
  }
  if (typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    const out: Record<string, unknown> = {}
    for (const key of Reflect.ownKeys(value)) {
      const d = Object.getOwnPropertyDescriptor(value, key)!
      Object.defineProperty(out, key, { ...d, value: readBack(d.value, bytesAsBuffer) })
    }
    return out
  }
  return value
}

/** What a failed call must leave as it was: the head, the revisions, every event. */
async function logState (db: Annals): Promise<unknown> {
  const all = await collect(db.readAll())
  return { head: all.at(-1)?.position ?? -1, s: await db.revision('s'), t: await db.revision('t'), all }
}

t.test('garbage to every public method: it works, or fails with a TypeError or a coded AnnalsError, and then changes nothing', async t => {
  let checked = 0
  await fc.assert(fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength: 12 }), async list => {
    const level = new MemoryLevel()
    const db = await open({ level }, { keyStore: new MemoryKeyStore() })
    try {
      await db.append('s', [{ type: 'T', data: { n: 1 } }, { type: 'U' }])
      const projection = await db.project(defineProjection({ name: 'all', handle: async (e, view) => { view.put(e.id, e.type) } }))
      const world = { db, projection }
      for (const call of list) {
        const before = await logState(db)
        const outcome = await perform(call, world)
        if (outcome.ok && call.mustFail === true) throw new Error(`${call.label} accepted an unknown option key or an infinite bound`)
        if (outcome.ok) continue
        if (!allowedFailure(outcome.error)) throw new Error(`${call.label} failed with ${String(outcome.error)}`, { cause: outcome.error })
        const after = await logState(db)
        // compared as read back: an invalid Date is not equal to itself to isDeepStrictEqual
        if (!isDeepStrictEqual(readBack(after, false), readBack(before, false))) throw new Error(`${call.label} failed (${String(outcome.error)}) and changed the log`)
        checked++
      }
    } finally {
      await db.close()
      await level.close()
    }
  }), { numRuns: 150 })
  t.ok(checked > 300, `${checked} failed calls checked`)
})

t.test('garbage to open: it opens, or fails with a TypeError or a coded AnnalsError and writes nothing', async t => {
  const openOptions = optionsOf(['sync', 'maxEventSize', 'masterKey', 'keyStore', 'personalData'], fc.oneof(
    fc.boolean(), numbers, fc.constant(Buffer.alloc(32)), fc.constant(new MemoryKeyStore()),
    fc.dictionary(fc.constantFrom('T', 'U'), optionsOf(['subject', 'fields'], fc.oneof(fc.constantFrom('who', ['email']), junk)), { maxKeys: 2 })
  ))
  // never a string: that would be a folder, made wherever the test runs
  const location = optionsOf(['level']).filter(v => typeof v !== 'string')
  await fc.assert(fc.asyncProperty(openOptions, location, async (options, where) => {
    const level = new MemoryLevel()
    try {
      for (const [label, call] of [
        ['open on a level', async () => await open({ level }, options as never)],
        ['open of junk', async () => await open(where as never, options as never)]
      ] as const) {
        let db: Annals | undefined
        const outcome = await perform({ label, kind: 'promise', run: async () => { db = await call() } }, undefined as never)
        await db?.close()
        const unknown = unknownKey(options, ['sync', 'maxEventSize', 'masterKey', 'keyStore', 'personalData']) ||
          (label === 'open of junk' && unknownKey(where, ['level']))
        if (outcome.ok && unknown) throw new Error(`${label} accepted an unknown option key`)
        if (outcome.ok) continue
        if (!allowedFailure(outcome.error)) throw new Error(`${label} failed with ${String(outcome.error)}`, { cause: outcome.error })
        if (label === 'open on a level' && (await level.keys().all()).length > 0) throw new Error('a failed open wrote to the level')
      }
    } finally {
      await level.close()
    }
  }), { numRuns: 200 })
  // and in a folder: a failed open makes no folder
  const { dir, remove } = tempDir()
  t.teardown(remove)
  let n = 0
  await fc.assert(fc.asyncProperty(openOptions, async options => {
    const path = join(dir, `db-${n++}`)
    let db: Annals | undefined
    try {
      db = await open(path, options as never)
    } catch (err) {
      if (!allowedFailure(err)) throw err
      if (existsSync(path)) throw new Error('a failed open made a folder')
    } finally {
      await db?.close()
    }
  }), { numRuns: 30 })
  t.pass('every open opened or failed as it should')
})

// ---- exactness ----

/** Whether MessagePack itself brings the value back the same (a Uint8Array as a Buffer). */
function roundTrips (value: unknown): boolean {
  try {
    return isDeepStrictEqual(readBack(decode(encode(value)), false), readBack(value, true))
  } catch {
    return false
  }
}

t.test('any value appended as data reads back exactly, or is refused because it would not', async t => {
  const level = new MemoryLevel()
  const db = await open({ level })
  t.teardown(async () => { await db.close(); await level.close() })
  let stored = 0
  let refused = 0
  await fc.assert(fc.asyncProperty(fc.oneof(anything, special), async value => {
    const before = await db.revision('s')
    const result = await db.append('s', { type: 'T', data: value, metadata: { value } }).then(() => undefined, (err: unknown) => err as Error)
    if (result === undefined) {
      const [event] = await collect(db.readStream('s', { backwards: true, limit: 1 })) as [RecordedEvent]
      const expected = readBack(value === undefined ? null : value, true)
      if (!isDeepStrictEqual(readBack(event.data, false), expected)) throw new Error('data read back altered')
      if (!isDeepStrictEqual(readBack(event.metadata, false), readBack({ value }, true))) throw new Error('metadata read back altered')
      stored++
      return
    }
    if (!(result instanceof AnnalsError && result.code === 'ANNALS_INVALID_EVENT')) throw result
    if (await db.revision('s') !== before) throw new Error('a refused append wrote')
    if (value !== undefined && roundTrips(value)) throw new Error('refused a value that MessagePack brings back the same')
    refused++
  }), { numRuns: 1000 })
  t.ok(stored > 100 && refused > 100, `${stored} stored exactly, ${refused} refused`)
})
