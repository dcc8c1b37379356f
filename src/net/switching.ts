// The backend under the log of a database in a folder: the current backend (this process's
// own, as the owner; or a client of the owner) behind one object, so that when the owner goes
// away and another backend takes its place (this process becomes the owner, or a client of
// the new one) the layers above keep every reference they hold.
//
// What was under way when the owner went away goes on: an append is sent again (its ids make a
// re-send idempotent) and resolves with its result; a read goes on after the last event it
// gave; listeners for commits and notices move to the new backend, with the commits in
// between; locks held through the old owner are lost (their holders take them again), and
// those this process asked for in vain are announced as maybe free. A write to the key spaces
// whose outcome is unknown fails with ANNALS_OWNER_LOST (the key spaces: switching-storage.ts).
import { AnnalsError } from '../errors.js'
import type {
  AppendHook, AppendManyRequest, AppendPart, AppendRequest, Backend, CommitListener, EventChunks, Lock, LogFilter, LogHead, LogImporter, ReadRange,
  ScavengeReport, StreamListOptions, StreamRule, StreamSummary
} from '../backend/backend.js'
import { sameDatabase } from '../diagnostics/channels.js'
import type { WriterFigures } from '../diagnostics/figures.js'
import type { AppendResult, RecordedEvent } from '../log/types.js'
import type { KeyStore } from '../privacy/key-store.js'
import type { Storage } from '../storage/storage.js'
import { Disconnected } from './connection.js'
import { SwitchingStorage } from './switching-storage.js'

/** A backend the switching backend can stand on: the owner's, or a client's. */
export interface Attached extends Backend {
  readonly role: 'owner' | 'client'
  /** the key store of the database's folder (the owner's), when the process uses it */
  readonly keys: KeyStore | undefined
  /** tells the switching backend that this one is no longer usable (clients only) */
  whenGone? (gone: () => void): void
  backup (dest: string): Promise<void>
  snapshot (): Promise<Storage & { close (): Promise<void> }>
  rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void>
}

/** Finds the next backend: becomes the owner, or a client of the new one; rejects when it cannot in time. */
export type Reattach = (closed: () => boolean) => Promise<Attached>

/** Whether a request may be sent again after the owner went away with it. */
export type Retry = 'always' | 'unsent'

export class SwitchingBackend implements Backend {
  readonly storage: Storage
  readonly #reattach: Reattach
  readonly #onClose: () => void
  #current: Attached
  #switching: Promise<void> | undefined
  #failure: unknown
  #closed = false
  #hook: AppendHook | undefined
  /** the last position this process was told of */
  #seen: number
  readonly #commits = new Set<CommitListener>()
  readonly #topics = new Map<string, Set<(message: string) => void>>()
  /** lock names this process asked for and did not get: maybe free after a switch */
  readonly #wanted = new Set<string>()
  #detach: Array<() => void> = []

  constructor (first: Attached, reattach: Reattach, onClose: () => void) {
    this.#current = first
    this.#reattach = reattach
    this.#onClose = onClose
    this.#seen = first.head.position
    this.storage = new SwitchingStorage(this)
    this.#install(first)
  }

  get role (): 'owner' | 'client' {
    return this.#current.role
  }

  get location (): string | undefined {
    return this.#current.location
  }

  get head (): LogHead {
    return this.#current.head
  }

  get columns (): boolean {
    return this.#current.columns === true
  }

  /** The backend in use now. */
  get current (): Attached {
    return this.#current
  }

  /** The owner's writer's figures, when this process is the owner; none as a client. */
  get figures (): WriterFigures | undefined {
    return this.#current.figures
  }

  append (request: AppendRequest): Promise<AppendResult> {
    // the owner's own appends: straight to its writer
    if (this.#current.role === 'owner' && this.#switching === undefined) return this.#current.append(request)
    return this.#again(request, (b, r) => b.append(r), (r, f) => ({ ...r, events: f(r) }))
  }

  appendMany (request: AppendManyRequest): Promise<AppendResult[]> {
    if (this.#current.role === 'owner' && this.#switching === undefined) return this.#current.appendMany(request)
    // a change to a stream's life has no ids of the caller's: sent again only if unread
    if (request.lifecycle !== undefined) return this.call(async b => await b.appendMany(request), 'unsent')
    return this.#again(request, (b, r) => b.appendMany(r), (r, f) => ({ ...r, parts: r.parts.map(p => ({ ...p, events: f(p) })) }))
  }

  /**
   * Sends an append until an owner answers it. After a connection lost with the append on its
   * way, the owner may have written it: its events are sent again as not fresh, so that the
   * next owner looks their ids up and answers as the first did.
   */
  async #again<R, T> (request: R, send: (b: Attached, r: R) => Promise<T>, stale: (r: R, f: (p: AppendPart) => AppendPart['events']) => R): Promise<T> {
    let r = request
    for (;;) {
      const b = await this.#ready()
      try {
        return await send(b, r)
      } catch (err) {
        if (!(err instanceof Disconnected)) throw err
        this.lost(b)
        if (err.executed) r = stale(r, p => p.events.some(e => e.fresh) ? p.events.map(e => ({ ...e, fresh: false })) : p.events)
      }
    }
  }

  readLog (range: ReadRange, types?: ReadonlySet<string>): EventChunks {
    if (this.#current.role === 'owner') return this.#current.readLog(range, types)
    return new ResumedChunks(this, range, (b, r) => b.readLog(r, types), e => e.position)
  }

  readFiltered (range: ReadRange, filter: LogFilter): EventChunks {
    if (this.#current.role === 'owner') return this.#current.readFiltered(range, filter)
    return new ResumedChunks(this, range, (b, r) => b.readFiltered(r, filter), e => e.position)
  }

  readStream (stream: string, range: ReadRange): EventChunks {
    if (this.#current.role === 'owner') return this.#current.readStream(stream, range)
    return new ResumedChunks(this, range, (b, r) => b.readStream(stream, r), e => e.revision)
  }

  async revision (stream: string): Promise<number> {
    return await this.call(async b => await b.revision(stream), 'always')
  }

  async revisionAt (stream: string, position: number): Promise<number> {
    return await this.call(async b => await b.revisionAt(stream, position), 'always')
  }

  async positionAt (time: number): Promise<number> {
    return await this.call(async b => await b.positionAt(time), 'always')
  }

  async * streams (options: StreamListOptions): AsyncIterable<StreamSummary> {
    let after = options.after
    let left = options.limit
    for (;;) {
      const b = await this.#ready()
      try {
        for await (const s of b.streams({ ...options, after, limit: left })) {
          yield s
          after = s.stream
          left--
        }
        return
      } catch (err) {
        if (!(err instanceof Disconnected)) throw err
        this.lost(b)
      }
    }
  }

  onCommit (listener: CommitListener): () => void {
    this.#commits.add(listener)
    return () => { this.#commits.delete(listener) }
  }

  setHook (hook: AppendHook | undefined): void {
    this.#hook = hook
    if (this.#current.role === 'owner') this.#current.setHook(hook)
  }

  async tryLock (name: string): Promise<Lock | undefined> {
    const lock = await this.call(async b => await b.tryLock(name), 'always')
    if (lock === undefined) this.#wanted.add(name)
    else this.#wanted.delete(name)
    return lock
  }

  async notify (topic: string, message: string): Promise<void> {
    await this.call(async b => { await b.notify(topic, message) }, 'always')
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    let set = this.#topics.get(topic)
    if (set === undefined) {
      this.#topics.set(topic, set = new Set())
      this.#detach.push(this.#current.onNotice(topic, message => { this.#deliver(topic, message) }))
    }
    set.add(listener)
    return () => { set.delete(listener) }
  }

  async streamRule (stream: string): Promise<StreamRule | undefined> {
    return await this.call(async b => await b.streamRule(stream), 'always')
  }

  async streamStart (stream: string): Promise<number> {
    return await this.call(async b => await b.streamStart(stream), 'always')
  }

  /** Made by the owner; after a failover, the next owner finishes it (and tells every removed position again). */
  async scavenge (progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
    return await this.call(async b => await b.scavenge(progress, onRemoved), 'always')
  }

  async compact (): Promise<void> {
    await this.call(async b => { await b.compact() }, 'always')
  }

  async importer (): Promise<LogImporter> {
    return await this.call(async b => await b.importer(), 'unsent')
  }

  async flush (): Promise<void> {
    await this.call(async b => { await b.flush() }, 'always')
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#switching
      await this.#current.close()
    } finally {
      for (const stop of this.#detach) stop()
      this.#onClose()
    }
  }

  /**
   * Runs `fn` on the current backend; if the owner goes away meanwhile, on the next one, when
   * `retry` allows: `'always'` for what may be done twice, `'unsent'` when the owner refused it
   * unread. Otherwise ANNALS_OWNER_LOST.
   */
  async call<T> (fn: (b: Attached) => Promise<T>, retry: Retry): Promise<T> {
    for (;;) {
      const b = await this.#ready()
      try {
        return await fn(b)
      } catch (err) {
        if (!(err instanceof Disconnected)) throw err
        this.lost(b)
        if (retry === 'unsent' && err.executed) {
          throw new AnnalsError('ANNALS_OWNER_LOST', 'The process that owns the database went away while this write was on its way: whether it was made is unknown', { cause: err })
        }
      }
    }
  }

  /** The owner behind `b` went away (or is leaving): find the next, unless that is under way. */
  lost (b: Attached): void {
    if (b !== this.#current || this.#switching !== undefined || this.#closed) return
    this.#switching = this.#switch(b).finally(() => { this.#switching = undefined })
  }

  /** Resolves with the backend to use, once no switch is under way. */
  async #ready (): Promise<Attached> {
    while (this.#switching !== undefined) await this.#switching
    if (this.#closed) throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    if (this.#failure !== undefined) throw this.#failure
    return this.#current
  }

  async #switch (old: Attached): Promise<void> {
    for (const stop of this.#detach) stop()
    this.#detach = []
    let next: Attached
    try {
      next = await this.#reattach(() => this.#closed)
    } catch (err) {
      this.#failure = err instanceof AnnalsError && err.code !== 'ANNALS_NOT_OPEN'
        ? err
        : new AnnalsError('ANNALS_OWNER_LOST', 'The process that owned the database went away, and no other could take its place', { cause: err })
      return
    } finally {
      void old.close().catch(() => {})
    }
    if (this.#closed) {
      await next.close().catch(() => {})
      return
    }
    this.#current = next
    this.#install(next)
    // commits this process was not told of, while it had no owner
    const head = next.head.position
    if (head > this.#seen) this.#committed(this.#seen + 1, head)
    for (const name of this.#wanted) this.#deliver('lock-freed', name)
  }

  #install (b: Attached): void {
    // the owner's writer names this database in the diagnostics channels' messages
    if (b.role === 'owner') sameDatabase(b.storage, this.storage)
    b.whenGone?.(() => { this.lost(b) })
    this.#detach.push(b.onCommit((first, last) => { this.#committed(first, last) }))
    for (const topic of this.#topics.keys()) this.#detach.push(b.onNotice(topic, message => { this.#deliver(topic, message) }))
    if (b.role === 'owner' && this.#hook !== undefined) b.setHook(this.#hook)
  }

  #committed (first: number, last: number): void {
    if (last <= this.#seen) return
    const from = Math.max(first, this.#seen + 1)
    this.#seen = last
    for (const listener of this.#commits) {
      try {
        listener(from, last)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }

  #deliver (topic: string, message: string): void {
    for (const listener of [...this.#topics.get(topic) ?? []]) {
      try {
        listener(message)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }
}

/** A read that goes on after its last event on the next backend when the owner goes away. */
class ResumedChunks implements EventChunks {
  readonly #switching: SwitchingBackend
  readonly #range: ReadRange
  readonly #open: (b: Attached, range: ReadRange) => EventChunks
  readonly #place: (e: RecordedEvent) => number
  #source: { backend: Attached, chunks: EventChunks } | undefined
  #last: number | undefined
  #given = 0
  #closed = false

  constructor (switching: SwitchingBackend, range: ReadRange, open: (b: Attached, range: ReadRange) => EventChunks, place: (e: RecordedEvent) => number) {
    this.#switching = switching
    this.#range = range
    this.#open = open
    this.#place = place
  }

  async next (): Promise<RecordedEvent[]> {
    for (;;) {
      if (this.#closed) return []
      const source = this.#source ?? await this.#reopen()
      if (source === undefined) return []
      try {
        const events = await source.chunks.next()
        if (events.length > 0) {
          this.#last = this.#place(events[events.length - 1]!)
          this.#given += events.length
        }
        return events
      } catch (err) {
        if (!(err instanceof Disconnected)) throw err
        this.#source = undefined
        this.#switching.lost(source.backend)
      }
    }
  }

  async #reopen (): Promise<{ backend: Attached, chunks: EventChunks } | undefined> {
    const r = this.#range
    let range = r
    if (this.#last !== undefined) {
      const from = r.backwards ? this.#last - 1 : this.#last + 1
      if (from < 0 || (r.to !== undefined && (r.backwards ? from < r.to : from > r.to))) return undefined
      range = { ...r, from, limit: r.limit - this.#given }
      if (range.limit <= 0) return undefined
    }
    const backend = await this.#switching.call(async b => b, 'always')
    this.#source = { backend, chunks: this.#open(backend, range) }
    return this.#source
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#source?.chunks.close().catch(() => {})
  }
}
