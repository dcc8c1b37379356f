// The requests an owner answers for its clients: each one a call on the owner's own backend
// (its one writer, its readers, its locks), its key store, or a snapshot of its storage. Reads
// hand out a chunk per request, so a client's read costs the owner one chunk of memory however
// long it is, and a slow client slows only itself.
import type { AppendCondition, LifecycleChange, LogFilter, ReadRange, StreamListOptions, StreamSummary } from '../backend/backend.js'
import { SnapshotStorage } from '../backend/level/snapshot.js'
import { AnnalsError } from '../errors.js'
import type { ExpectedRevision, RecordedEvent } from '../log/types.js'
import type { StoredRecord } from '../backend/level/stored-records.js'
import type { KeyStore, SubjectKey } from '../privacy/key-store.js'
import type { ChunkIterator, KeyRange, Storage, WriteOp } from '../storage/storage.js'
import type { Chunks, Client, OwnerServer } from './server.js'
import { COLUMNS_PROTOCOL, buffer, decodeParts, decodeReady, encodeEvents, encodeResult, type WireParts, type WireReady } from './wire.js'
import { encodeRecords } from './records.js'
import { rawEventsAsMaps, recordsAsMaps } from './older-clients.js'

type Handler = (server: OwnerServer, client: Client, args: unknown[]) => unknown

/** Stream summaries per answer. */
const STREAMS_PAGE = 256

/** How a read's chunks cross: events (`raw`: with their data as the stored bytes), or records (protocol 3). */
type Page = (items: unknown[]) => unknown

const eventPage: Page = items => encodeEvents(items as RecordedEvent[], false)
const rawPage: Page = items => encodeEvents(items as RecordedEvent[], true)
const recordPage: Page = items => encodeRecords(items as StoredRecord[])
// a client of protocol 2 or 3 reads events' data as maps only (older-clients.ts)
const olderRawPage: Page = items => encodeEvents(rawEventsAsMaps(items as RecordedEvent[]), true)
const olderRecordPage: Page = items => encodeRecords(recordsAsMaps(items as StoredRecord[]))
const raw = (c: Client): Page => c.protocol < COLUMNS_PROTOCOL ? olderRawPage : rawPage
const records = (c: Client): Page => c.protocol < COLUMNS_PROTOCOL ? olderRecordPage : recordPage

/** The first chunk of a read, and the id to ask for the next by. */
async function firstEvents (client: Client, chunks: Chunks, page: Page): Promise<[number, unknown]> {
  let events
  try {
    events = await chunks.next()
  } catch (err) {
    await chunks.close().catch(() => {})
    throw err
  }
  if (events.length === 0) {
    await chunks.close()
    return [0, page(events)]
  }
  const id = client.nextId++
  client.iterators.set(id, { events: chunks, page })
  return [id, page(events)]
}

async function nextEvents (client: Client, id: number, page: Page): Promise<unknown> {
  const entry = client.iterators.get(id)
  const chunks = entry?.events
  if (chunks === undefined) return page([])
  let events
  try {
    events = await chunks.next()
  } catch (err) {
    client.iterators.delete(id)
    await chunks.close().catch(() => {})
    throw err
  }
  if (events.length === 0) {
    client.iterators.delete(id)
    await chunks.close()
  }
  return entry!.page!(events)
}

async function nextStreams (client: Client, id: number): Promise<StreamSummary[]> {
  const it = client.iterators.get(id)?.streams
  if (it === undefined) return []
  const page: StreamSummary[] = []
  try {
    while (page.length < STREAMS_PAGE) {
      const r = await it.next()
      if (r.done === true) break
      page.push(r.value)
    }
  } catch (err) {
    client.iterators.delete(id)
    await it.return?.().catch(() => {})
    throw err
  }
  if (page.length < STREAMS_PAGE) {
    client.iterators.delete(id)
    await it.return?.()
  }
  return page
}

function typeSet (types: unknown): ReadonlySet<string> | undefined {
  return types === null ? undefined : new Set(types as string[])
}

function storageOf (server: OwnerServer, client: Client, snapshot: number): Storage {
  if (snapshot === 0) return server.served.backend.storage
  const s = client.snapshots.get(snapshot)
  if (s === undefined) throw new AnnalsError('ANNALS_NOT_OPEN', 'The snapshot is closed')
  return s
}

function keyStoreOf (server: OwnerServer): KeyStore {
  const store = server.served.keyStore()
  if (store === undefined) {
    throw new AnnalsError('ANNALS_NO_KEY_STORE', 'The process that holds the database has no key store')
  }
  return store
}

function keyOut (key: SubjectKey | undefined): [Uint8Array, Uint8Array] | null {
  return key === undefined ? null : [key.id, key.key]
}

export const handlers: Record<string, Handler> = {
  append: async (s, _c, [stream, events, expected, sync, condition]) => {
    const r = await s.served.backend.append({
      stream: stream as string,
      events: (events as WireReady[]).map(decodeReady),
      expected: expected as ExpectedRevision,
      sync: (sync as boolean | null) ?? undefined,
      ...condition === null ? {} : { condition: condition as AppendCondition }
    })
    return encodeResult(r)
  },
  appendMany: async (s, _c, [parts, sync, condition, lifecycle]) => {
    const results = await s.served.backend.appendMany({
      parts: decodeParts(parts as WireParts),
      sync: (sync as boolean | null) ?? undefined,
      ...condition === null ? {} : { condition: condition as AppendCondition },
      ...lifecycle === null ? {} : { lifecycle: lifecycle as LifecycleChange }
    })
    return results.map(encodeResult)
  },
  // the log and streams are read raw: the client decodes the events' data, not the owner, which would encode them again
  readLog: async (s, c, [range, types]) => await firstEvents(c, s.served.backend.readLog(range as ReadRange, typeSet(types), true), raw(c)),
  // protocol 3: the log's events as the records stored, which the owner does not read past their headers
  readLogRecords: async (s, c, [range, types]) => await firstEvents(c, s.served.backend.readLogRecords(range as ReadRange, typeSet(types)), records(c)),
  readFiltered: async (s, c, [range, filter]) => await firstEvents(c, s.served.backend.readFiltered(range as ReadRange, filter as LogFilter), eventPage),
  readStream: async (s, c, [stream, range]) => await firstEvents(c, s.served.backend.readStream(stream as string, range as ReadRange, true), raw(c)),
  // an ended or unknown read answers an empty page, of the kind its first answer had (events: protocol 2's clients ask no other)
  next: async (_s, c, [id]) => await nextEvents(c, id as number, eventPage),
  nextRecords: async (_s, c, [id]) => await nextEvents(c, id as number, records(c)),
  close: async (_s, c, [id]) => {
    const it = c.iterators.get(id as number)
    c.iterators.delete(id as number)
    await (it?.events?.close() ?? it?.storage?.close() ?? it?.streams?.return?.())
  },
  revision: async (s, _c, [stream]) => await s.served.backend.revision(stream as string),
  revisionAt: async (s, _c, [stream, position]) => await s.served.backend.revisionAt(stream as string, position as number),
  positionAt: async (s, _c, [time]) => await s.served.backend.positionAt(time as number),
  streamRule: async (s, _c, [stream]) => await s.served.backend.streamRule(stream as string) ?? null,
  streamStart: async (s, _c, [stream]) => await s.served.backend.streamStart(stream as string),
  // progress and removed positions go to the client ahead of the answer, on the same socket
  scavenge: async (s, c, [call]) => await s.served.backend.scavenge(
    (done, total) => { c.send([0, 'scavenged', call, 'progress', done, total]) },
    positions => { c.send([0, 'scavenged', call, 'removed', positions]) }
  ),
  compact: async s => { await s.served.backend.compact() },
  streams: async (s, c, [options]) => {
    const o = options as StreamListOptions
    const it = s.served.backend.streams({ prefix: o.prefix, after: o.after ?? undefined, limit: o.limit })[Symbol.asyncIterator]()
    const id = c.nextId++
    c.iterators.set(id, { streams: it })
    return [id, await nextStreams(c, id)]
  },
  nextStreams: async (_s, c, [id]) => await nextStreams(c, id as number),
  get: async (s, c, [snapshot, key]) => await storageOf(s, c, snapshot as number).get(buffer(key as Uint8Array)),
  getMany: async (s, c, [snapshot, keys]) => await storageOf(s, c, snapshot as number).getMany((keys as Uint8Array[]).map(buffer)),
  write: async (s, _c, [ops, sync]) => {
    const list = (ops as Array<[Uint8Array, Uint8Array | null]>).map(([key, value]): WriteOp => value === null ? { key: buffer(key) } : { key: buffer(key), value: buffer(value) })
    await s.served.backend.storage.write(list, sync as boolean)
  },
  iterate: (s, c, [snapshot, range, kind]) => {
    const storage = storageOf(s, c, snapshot as number)
    const it = kind === 'keys' ? storage.keys(range as KeyRange) : storage.entries(range as KeyRange)
    const id = c.nextId++
    c.iterators.set(id, { storage: it as ChunkIterator<unknown> })
    return id
  },
  nextv: async (_s, c, [id, size]) => {
    const it = c.iterators.get(id as number)?.storage
    if (it === undefined) throw new AnnalsError('ANNALS_NOT_OPEN', 'The iterator is closed')
    return await it.nextv(size as number)
  },
  lock: (s, c, [name]) => {
    const lock = s.served.backend.coordination.tryLock(name as string, c)
    if (lock === undefined) return 0
    const id = c.nextId++
    c.locks.set(id, lock)
    return id
  },
  unlock: async (_s, c, [id]) => {
    const lock = c.locks.get(id as number)
    c.locks.delete(id as number)
    await lock?.release()
  },
  notify: async (s, _c, [topic, message]) => { await s.notify(topic as string, message as string) },
  listen: (_s, c, [topic]) => { c.topics.add(topic as string) },
  unlisten: (_s, c, [topic]) => { c.topics.delete(topic as string) },
  keyGet: async (s, _c, [subject]) => keyOut(await keyStoreOf(s).get(subject as string)),
  keyGetOrCreate: async (s, _c, [subject]) => keyOut(await keyStoreOf(s).getOrCreate(subject as string)),
  keyShred: async (s, _c, [subject]) => { await keyStoreOf(s).shred(subject as string) },
  keyRotate: async (s, _c, [masterKey]) => { await s.served.rotateMasterKey(masterKey === null ? undefined : buffer(masterKey as Uint8Array)) },
  backup: async (s, _c, [dest]) => { await s.served.backup(dest as string) },
  snapshot: (s, c) => {
    const snapshot = new SnapshotStorage(s.served.backend.storage)
    const id = c.nextId++
    c.snapshots.set(id, snapshot)
    return id
  },
  dropSnapshot: async (_s, c, [id]) => {
    const snapshot = c.snapshots.get(id as number)
    c.snapshots.delete(id as number)
    await snapshot?.close()
  }
}

