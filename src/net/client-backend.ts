// A client's backend: every call a request to the owner's backend over the socket (see
// serve.ts for the other side). The head follows the owner's commit pushes, which arrive before
// the answer to an append they include, so a client reads its own writes. Reads are pulled a
// chunk at a time, one chunk ahead.
import { AnnalsError } from '../errors.js'
import type {
  AppendHook, AppendManyRequest, AppendRequest, Backend, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange,
  ScavengeReport, StreamListOptions, StreamRule, StreamSummary
} from '../backend/backend.js'
import type { AppendResult, RecordedEvent } from '../log/types.js'
import type { KeyStore } from '../privacy/key-store.js'
import { Disconnected, type Connection, type Welcome } from './connection.js'
import { decodeRecords } from './records.js'
import { RemoteKeyStore, RemoteStorage } from './remote-storage.js'
import { COLUMNS_PROTOCOL, decodeEvents, decodeResult, encodeParts, encodeReady, type WireEvents, type WireResult } from './wire.js'

/** Why a client stops using its connection: the owner said it is leaving, or the connection is gone. */
export type Gone = 'bye' | 'closed'

export class ClientBackend implements Backend {
  readonly role = 'client'
  readonly storage: RemoteStorage
  readonly location: string
  readonly keys: KeyStore
  readonly connection: Connection
  #head: LogHead
  readonly #sync: boolean | undefined
  readonly #commits = new Set<CommitListener>()
  readonly #notices = new Map<string, Set<(message: string) => void>>()
  readonly #locks = new Set<() => void>()
  /** this process's appends not yet answered */
  readonly #appending = new Set<Promise<unknown>>()
  /** the callbacks of this process's scavenges under way, by call */
  readonly #scavenges = new Map<number, { progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void }>()
  #nextScavenge = 1
  #gone: ((why: Gone) => void) | undefined

  /** `sync`: the default of this process's appends; undefined leaves it to the owner's. */
  constructor (connection: Connection, welcome: Welcome, location: string, sync: boolean | undefined) {
    this.connection = connection
    this.location = location
    this.#head = welcome.head
    this.#sync = sync
    this.storage = new RemoteStorage(connection, location, 0)
    this.keys = new RemoteKeyStore(connection)
    connection.listen((kind, args) => { this.#pushed(kind, args) }, () => {
      for (const lose of this.#locks) lose()
      this.#locks.clear()
      this.#gone?.('closed')
    })
  }

  /** Tells `gone` when the owner leaves or the connection goes (once each). */
  whenGone (gone: (why: Gone) => void): void {
    this.#gone = gone
  }

  /** Whether the owner reads the column layout: it does from protocol 4 on. */
  get columns (): boolean {
    return this.connection.protocol >= COLUMNS_PROTOCOL
  }

  get head (): LogHead {
    return this.#head
  }

  async append (request: AppendRequest): Promise<AppendResult> {
    const answer = this.connection.request('append', request.stream, request.events.map(encodeReady), request.expected, request.sync ?? this.#sync ?? null, request.condition ?? null)
    return decodeResult(await this.#appended(answer) as WireResult)
  }

  async appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    const answer = this.connection.request('appendMany', encodeParts(request.parts), request.sync ?? this.#sync ?? null, request.condition ?? null, request.lifecycle ?? null)
    return (await this.#appended(answer) as WireResult[]).map(decodeResult)
  }

  /** Keeps an append's answer among those {@link flush} waits for, until it comes. */
  async #appended (answer: Promise<unknown>): Promise<unknown> {
    this.#appending.add(answer)
    try {
      return await answer
    } finally {
      this.#appending.delete(answer)
    }
  }

  readLog (range: ReadRange, types?: ReadonlySet<string>): EventChunks {
    const args = [range, types === undefined ? null : [...types]]
    // protocol 3: the records as stored, decoded here (an owner of protocol 2 sends events)
    if (this.connection.protocol >= 3) return new RemoteChunks(this.connection, 'readLogRecords', args, 'nextRecords', wire => decodeRecords(wire as Uint8Array))
    return new RemoteChunks(this.connection, 'readLog', args)
  }

  readFiltered (range: ReadRange, filter: LogFilter): EventChunks {
    return new RemoteChunks(this.connection, 'readFiltered', [range, filter])
  }

  readStream (stream: string, range: ReadRange): EventChunks {
    return new RemoteChunks(this.connection, 'readStream', [stream, range])
  }

  async revision (stream: string): Promise<number> {
    return await this.connection.request('revision', stream) as number
  }

  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.connection.request('revisionAt', stream, position) as number
  }

  async positionAt (time: number): Promise<number> {
    return await this.connection.request('positionAt', time) as number
  }

  async * streams (options: StreamListOptions): AsyncIterable<StreamSummary> {
    let [id, page] = await this.connection.request('streams', { ...options, after: options.after ?? null }) as [number, StreamSummary[]]
    try {
      for (;;) {
        yield * page
        if (page.length === 0) return
        page = await this.connection.request('nextStreams', id) as StreamSummary[]
      }
    } finally {
      if (page.length > 0) this.connection.request('close', id).catch(() => {})
    }
  }

  onCommit (listener: CommitListener): () => void {
    this.#commits.add(listener)
    return () => { this.#commits.delete(listener) }
  }

  /** Hooks run in the owner's writer: a client cannot set one. */
  setHook (hook: AppendHook | undefined): void {
    if (hook !== undefined) throw new AnnalsError('ANNALS_INLINE_UNAVAILABLE', 'Inline projections run in the writer of the process that owns the database, not in a client')
  }

  async tryLock (name: string): Promise<Lock | undefined> {
    const id = await this.connection.request('lock', name) as number
    if (id === 0) return undefined
    let lose!: () => void
    const lost = new Promise<void>(resolve => { lose = resolve })
    let released = false
    this.#locks.add(lose)
    if (this.connection.isClosed) lose()
    return {
      name,
      lost,
      release: async () => {
        if (released) return
        released = true
        this.#locks.delete(lose)
        await this.connection.request('unlock', id).catch((err: unknown) => {
          // gone with the connection: the owner freed it
          if (!(err instanceof Disconnected)) throw err
        })
      }
    }
  }

  async notify (topic: string, message: string): Promise<void> {
    await this.connection.request('notify', topic, message)
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    let set = this.#notices.get(topic)
    if (set === undefined) {
      this.#notices.set(topic, set = new Set())
      this.connection.request('listen', topic).catch(() => {})
    }
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size > 0 || this.#notices.get(topic) !== set) return
      this.#notices.delete(topic)
      this.connection.request('unlisten', topic).catch(() => {})
    }
  }

  async streamRule (stream: string): Promise<StreamRule | undefined> {
    return await this.connection.request('streamRule', stream) as StreamRule | null ?? undefined
  }

  async streamStart (stream: string): Promise<number> {
    return await this.connection.request('streamStart', stream) as number
  }

  /** Made by the owner; its progress and the positions it removes are pushed here before its answer. */
  async scavenge (progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
    const call = this.#nextScavenge++
    this.#scavenges.set(call, { ...progress === undefined ? {} : { progress }, ...onRemoved === undefined ? {} : { onRemoved } })
    try {
      return await this.connection.request('scavenge', call) as ScavengeReport
    } finally {
      this.#scavenges.delete(call)
    }
  }

  async compact (): Promise<void> {
    await this.connection.request('compact')
  }

  async importer (): Promise<LogImporter> {
    throw new AnnalsError('ANNALS_LOCKED', 'An import needs the database folder to itself: close the process that holds it open')
  }

  /**
   * Waits for this process's appends to be answered (written, or refused). Not the owner's
   * flush: that waits for the owner's queue to empty, which never happens while others append.
   */
  async flush (): Promise<void> {
    await Promise.allSettled([...this.#appending])
  }

  async close (): Promise<void> {
    await this.connection.close()
  }

  /** A consistent copy of the database at `dest`, made by the owner. */
  async backup (dest: string): Promise<void> {
    await this.connection.request('backup', dest)
  }

  /** The key spaces as they are now, read through the owner while appends go on. */
  async snapshot (): Promise<RemoteStorage> {
    const id = await this.connection.request('snapshot') as number
    return new RemoteStorage(this.connection, this.location, id)
  }

  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    await this.connection.request('keyRotate', masterKey ?? null)
  }

  #pushed (kind: string, args: unknown[]): void {
    if (kind === 'commit') {
      const [first, last, position, time] = args as [number, number, number, number]
      this.#head = { position, time }
      for (const listener of this.#commits) {
        try {
          listener(first, last)
        } catch (err) {
          queueMicrotask(() => { throw err })
        }
      }
    } else if (kind === 'notice') {
      const [id, topic, message] = args as [number, string, string]
      for (const listener of [...this.#notices.get(topic) ?? []]) {
        try {
          listener(message)
        } catch (err) {
          queueMicrotask(() => { throw err })
        }
      }
      this.connection.tell('ack', id)
    } else if (kind === 'scavenged') {
      const [call, what, ...rest] = args as [number, string, ...unknown[]]
      const callbacks = this.#scavenges.get(call)
      try {
        if (what === 'progress') callbacks?.progress?.(rest[0] as number, rest[1] as number)
        else callbacks?.onRemoved?.(rest[0] as number[])
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    } else if (kind === 'bye') {
      this.#gone?.('bye')
    }
  }
}

/** The events of a page of a read, as they crossed. */
type Decode = (wire: unknown) => RecordedEvent[]

const wireEvents: Decode = wire => decodeEvents(wire as WireEvents)

/** Events from the owner, a chunk per request, the next one asked for (by `nextMethod`) as soon as one arrives. */
class RemoteChunks implements EventChunks {
  readonly #connection: Connection
  readonly #method: string
  readonly #args: unknown[]
  readonly #nextMethod: string
  readonly #decode: Decode
  #id = -1
  #ahead: Promise<RecordedEvent[]> | undefined
  #done = false

  constructor (connection: Connection, method: string, args: unknown[], nextMethod = 'next', decode = wireEvents) {
    this.#connection = connection
    this.#method = method
    this.#args = args
    this.#nextMethod = nextMethod
    this.#decode = decode
  }

  async next (): Promise<RecordedEvent[]> {
    if (this.#done) return []
    let events: RecordedEvent[]
    if (this.#id < 0) {
      const [id, wire] = await this.#connection.request(this.#method, ...this.#args) as [number, unknown]
      this.#id = id
      events = this.#decode(wire)
    } else {
      const ahead = this.#ahead ?? this.#fetch()
      this.#ahead = undefined
      events = await ahead
    }
    if (events.length === 0 || this.#id === 0) {
      this.#done = true
      this.#id = 0
    } else {
      this.#ahead = this.#fetch()
    }
    return events
  }

  #fetch (): Promise<RecordedEvent[]> {
    const p = this.#connection.request(this.#nextMethod, this.#id).then(this.#decode)
    p.catch(() => {}) // awaited by the next call, if any
    return p
  }

  async close (): Promise<void> {
    if (this.#done) return
    this.#done = true
    this.#ahead = undefined
    if (this.#id > 0) await this.#connection.request('close', this.#id).catch(() => {})
  }
}
