// Small helpers for the benchmarks: timing, medians, fresh databases, the events they write.
import { rmSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel, type ChainedBatch } from 'classic-level'
import { pack } from 'msgpackr'
import type { Timing } from './measure.js'

export const BENCH_DIR = join(process.cwd(), 'bench-data')

/** The user's shape of data: how many streams, how large an event, how many personal fields. */
export interface Shape {
  streams: number
  /** bytes of an event's data, msgpack-encoded (about: numbers vary by a byte or two) */
  eventSize: number
  /** personal fields of each event of the personal-data workloads */
  personalFields: number
}

/** The shape the targets of the issues are stated for: events of about 250 bytes over 1,000 streams. */
export const defaultShape: Shape = { streams: 1000, eventSize: 250, personalFields: 2 }

/** A fresh empty folder for one database of one run. */
export function freshDir (name: string): string {
  const dir = join(BENCH_DIR, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(BENCH_DIR, { recursive: true })
  return dir
}

export type Raw = ClassicLevel<Buffer, Buffer>
export type RawBatch = ChainedBatch<Raw, Buffer, Buffer>

/** A raw classic-level database with buffer keys and values: the baseline. */
export async function rawLevel (name: string, fresh = true): Promise<ClassicLevel<Buffer, Buffer>> {
  const db = new ClassicLevel<Buffer, Buffer>(fresh ? freshDir(name) : join(BENCH_DIR, name), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  return db
}

/** A key of a raw copy ordered by stream: tag, stream, 0x00, revision as 8 bytes. */
export function streamKey (tag: string, stream: string, revision: number): Buffer {
  const key = Buffer.alloc(tag.length + Buffer.byteLength(stream) + 9)
  const at = key.write(tag) + key.write(stream, tag.length)
  key[at] = 0
  key.writeBigUInt64BE(BigInt(revision), at + 1)
  return key
}

/** 8-byte big-endian key, as the raw baseline stores events. */
export function key8 (n: number): Buffer {
  const key = Buffer.allocUnsafe(8)
  key.writeUInt32BE(Math.floor(n / 0x100000000), 0)
  key.writeUInt32BE(n >>> 0, 4)
  return key
}

export interface SampleEvent { stream: string, type: string, data: Record<string, unknown> }

/**
 * A photo upload's fields, most telling first: events smaller than all of them keep the first
 * ones. Numbers in strings are padded, so that every event is about the same size.
 */
function photoFields (i: number, user: number): Array<[string, unknown]> {
  const n = String(i).padStart(9, '0')
  return [
    ['size', 2_400_000 + i % 100_000],
    ['title', `Sunset over the dunes, take ${String(i % 97).padStart(2, '0')}`],
    ['photoId', `photo-${n}`],
    ['userId', `user-${user}`],
    ['camera', 'Fujifilm X-T4'],
    ['width', 6240],
    ['height', 4160],
    ['takenAt', 1_700_000_000_000 + i * 1000],
    ['tags', ['travel', 'desert', 'sunset']],
    ['url', `https://photos.example.com/u/${user}/p/${n}.jpg`]
  ]
}

/**
 * The events of a shape: a photo upload of user `i % streams` whose data encodes to about
 * `eventSize` bytes (fields are left out of smaller events; larger ones carry a `note` to fill).
 * The layout is settled once, on a typical event, so every event has the same fields.
 */
export function eventMaker (shape: Shape): (i: number) => SampleEvent {
  const probe = photoFields(123_456, shape.streams - 1)
  const fields: string[] = []
  for (const [name] of probe) {
    const data = Object.fromEntries(probe.filter(([n]) => fields.includes(n) || n === name))
    if (pack(data).length > shape.eventSize && fields.length > 0) break
    fields.push(name)
  }
  const base = Object.fromEntries(probe.filter(([n]) => fields.includes(n)))
  // the note's length: its key and header take a few bytes, found by trying
  let note = 0
  for (let k = 0; k < 3; k++) {
    const size = pack(note > 0 ? { ...base, note: 'x'.repeat(note) } : base).length
    note = Math.max(0, note + shape.eventSize - size)
  }
  const filler = 'x'.repeat(note)
  return i => {
    const user = i % shape.streams
    const data: Record<string, unknown> = {}
    for (const [name, value] of photoFields(i, user)) if (fields.includes(name)) data[name] = value
    if (note > 0) data.note = filler
    return { stream: `user-${user}`, type: 'PhotoAdded', data }
  }
}

/** Now, in ms since the epoch, with the precision of performance.now(): comparable across processes. */
export function wallClock (): number {
  return performance.timeOrigin + performance.now()
}

/** Runs `fn` and returns its duration in ms. */
export async function time (fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A seeded sequence in [0, 1), so that annals and raw visit the same places. */
export function seeded (seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
}

/** Runs `count` calls of `fn(i)` with `concurrency` of them in flight at once. */
export async function concurrently (count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  async function worker (): Promise<void> {
    while (next < count) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}

/** How long a read of `events` events took; `read` says how many it read, and any other number is an error. */
export async function timedRead (events: number, read: () => Promise<number> | number): Promise<Timing> {
  const start = performance.now()
  const n = await read()
  const ms = performance.now() - start
  if (n !== events) throw new Error(`read ${n} events where ${events} were expected`)
  return { events, ms }
}

/** How long `fn` took to handle `events` events. */
export async function timed (events: number, fn: () => Promise<void>): Promise<Timing> {
  return { events, ms: await time(fn) }
}

/** A measurement of `events` events written by `body` on a fresh raw classic-level database, removed after. */
export function onRaw (name: string, events: number, body: (raw: Raw) => Promise<void>): () => Promise<Timing> {
  return async () => {
    const raw = await rawLevel(name)
    try {
      return await timed(events, async () => { await body(raw) })
    } finally {
      await raw.close()
      rmSync(raw.location, { recursive: true, force: true })
    }
  }
}

/** Writes events 0 to `events` - 1 in chained batches of `size`, `put` adding each event's writes. */
export async function inBatches (raw: Raw, events: number, size: number, put: (batch: RawBatch, i: number) => void, sync = false): Promise<void> {
  for (let i = 0; i < events; i += size) {
    const batch = raw.batch()
    for (let j = i; j < Math.min(i + size, events); j++) put(batch, j)
    await batch.write({ sync })
  }
}
