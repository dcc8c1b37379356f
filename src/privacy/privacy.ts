// Crypto-shredding: personal fields sealed on the way into the log and opened on the way out,
// with a key per data subject; `shred` deletes the subject's key, and every copy of its
// personal fields (in events, and in the views and snapshots they were copied into sealed)
// reads as null from then on. This is the log's event transform (see log/hooks.ts).
import { counted, databaseOf, shredChannel, traced, tracePromise, type ShredMessage } from '../diagnostics/channels.js'
import { AnnalsError } from '../errors.js'
import { encode } from '../storage/codec.js'
import type { Backend } from '../backend/backend.js'
import type { EventTransform } from '../log/hooks.js'
import { withExtensions } from '../log/record.js'
import type { RecordedEvent } from '../log/types.js'
import { Space, namedKey, prefixRange, u64 } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { keyedDigest, open as openSealed, seal, type SubjectKey } from './cipher.js'
import { at, withValues, type Declaration, type PersonalData } from './declarations.js'
import { KeyCache, type Mark } from './key-cache.js'
import { newKey, wipe, type KeyStore } from './key-store.js'
import { Sealed, eachSealed, mapSealed } from './sealed.js'
import { Declarations } from './stored-declarations.js'

const INTENTS = 'intent/'
const SHREDDED = 'shredded/'
/** The notice every process hears of a shred on: the message is the subject. */
const SHRED_TOPIC = 'shred'

/**
 * How privacy reaches the other processes that use the database (the backend's notices): a
 * shred in one makes every other drop the subject's key from its cache.
 */
export type Notices = Pick<Backend, 'notify' | 'onNotice'>

export class Privacy implements EventTransform {
  readonly #storage: Storage
  readonly #store: KeyStore | undefined
  readonly #declarations: Declarations
  readonly #keys = new KeyCache()
  readonly #notices: Notices | undefined
  /** subjects being shredded: a key made for them waits until the shred is done */
  readonly #shredding = new Map<string, Promise<void>>()

  private constructor (storage: Storage, store: KeyStore | undefined, declarations: Declarations, notices: Notices | undefined) {
    this.#storage = storage
    this.#store = store
    this.#declarations = declarations
    this.#notices = notices
    // a shred in another process: the subject's key, if this one has it, is erased
    notices?.onNotice(SHRED_TOPIC, subject => { this.#forget(subject) })
  }

  /** Drops what this process knows of a subject's key; a read of it under way is not remembered. */
  #forget (subject: string): void {
    this.#keys.shredStarts(subject)
    this.#keys.shredEnds(subject, false)
  }

  /**
   * Privacy over `storage`, with keys in `store`: the declarations stored in the database in
   * force, merged with `personalData` (stored durably before this resolves), and the shreds a
   * crash interrupted finished.
   */
  static async open (storage: Storage, store: KeyStore | undefined, personalData: Readonly<Record<string, PersonalData>> = {}, notices?: Notices): Promise<Privacy> {
    const privacy = new Privacy(storage, store, await Declarations.load(storage), notices)
    await privacy.#recover()
    const specs = Object.entries(personalData)
    if (specs.length > 0) {
      privacy.#requireStore()
      privacy.#declarations.declare(specs)
      await privacy.#declarations.saved()
    }
    return privacy
  }

  /**
   * Declares personal fields of an event type, merged with what the database stores for it;
   * `TypeError` on misuse, `ANNALS_NO_KEY_STORE` without a key store,
   * `ANNALS_DECLARATION_CONFLICT` for another subject than the stored one. The declaration is
   * stored durably before the first event it seals.
   */
  declare (type: string, spec: PersonalData): void {
    this.#requireStore()
    this.#declarations.declare([[type, spec]])
  }

  /** Resolves once every declaration made so far is stored durably. */
  async saved (): Promise<void> {
    await this.#declarations.saved()
  }

  seals (type: string): boolean {
    return this.#declarations.has(type)
  }

  prepare (events: ReadonlyArray<{ type: string, data: unknown }>): Promise<void> | undefined {
    const store = this.#store
    let subjects: Set<string> | undefined
    if (store !== undefined) {
      for (const e of events) {
        const subject = subjectOf(this.#declarations.get(e.type), e.data)
        // an invalid subject fails its append in seal(); it must not fail the others here
        if (typeof subject === 'string' && (this.#keys.get(subject) ?? null) === null) (subjects ??= new Set()).add(subject)
      }
    }
    // declarations are durable before anything they seal; with no store, seal() fails those appends alone
    if (!this.#declarations.unsaved && subjects === undefined) return undefined
    return this.#prepare(store, subjects)
  }

  async #prepare (store: KeyStore | undefined, subjects: Set<string> | undefined): Promise<void> {
    if (this.#declarations.unsaved) await this.#declarations.saved()
    if (store === undefined || subjects === undefined) return
    await Promise.all([...subjects].map(async s => await this.#current(store, s)))
  }

  seal (event: RecordedEvent): unknown {
    const declaration = this.#declarations.get(event.type)!
    if (declaration.subject === undefined) throw undeclaredSubject(event.type)
    const subject = subjectOf(declaration, event.data)
    if (typeof subject !== 'string') {
      throw new AnnalsError('ANNALS_INVALID_EVENT', `An event of type '${event.type}' has personal data but no subject id (a non-empty string or number)`)
    }
    this.#requireStore()
    const key = this.#keys.get(subject)
    if (key === undefined || key === null) throw this.#noKey(subject)
    const changes: Array<[readonly string[], unknown]> = []
    declaration.fields.forEach((path, i) => {
      const value = at(event.data, path)
      if (value === undefined || value === null || value instanceof Sealed) return
      changes.push([path, seal(value, key, subject, event.id, declaration.paths[i]!)])
    })
    return changes.length === 0 ? event.data : withValues(event.data, changes)
  }

  digest (event: Pick<RecordedEvent, 'type' | 'data' | 'metadata' | 'tags'>): Buffer | undefined {
    const subject = subjectOf(this.#declarations.get(event.type), event.data)
    const key = subject === undefined ? undefined : this.#keys.get(subject)
    if (key === undefined || key === null) return undefined
    return keyedDigest(encode([event.type, event.data, event.metadata, event.tags ?? []]), key)
  }

  async open (events: RecordedEvent[]): Promise<RecordedEvent[]> {
    const subjects = new Set<string>()
    for (const e of events) if (withExtensions.has(e)) eachSealed(e.data, s => subjects.add(s.subject))
    if (subjects.size === 0) return events
    await this.#load(subjects)
    return events.map(e => withExtensions.has(e) ? this.#openEvent(e) : e)
  }

  /**
   * A derived value (a view's document, an aggregate's state) with its sealed parts opened, or
   * null where their subject was shredded.
   */
  async openValue<T> (value: T): Promise<T> {
    const subjects = new Set<string>()
    eachSealed(value, s => subjects.add(s.subject))
    if (subjects.size === 0) return value
    await this.#load(subjects)
    return mapSealed(value, s => this.#unseal(s)) as T
  }

  /**
   * For an import (`annals import`): the data to store for events that were exported with their
   * personal fields readable, given as dotted path -> subject. Those fields are sealed again
   * under the subjects' current keys (made if need be), except the paths in `redacted`, which
   * read as null where they came from: they are sealed under a key thrown away at once, so they
   * read as null here too, as a shredded field does.
   */
  async reseal (lines: ReadonlyArray<{ event: RecordedEvent, personal: Readonly<Record<string, string>> | undefined, redacted: readonly string[] }>): Promise<unknown[]> {
    const store = this.#requireStore()
    const events = lines.map(({ event, personal, redacted }) => ({ event, personal: this.#personalFields(event, personal ?? {}), redacted }))
    const subjects = new Set<string>()
    for (const { personal, redacted } of events) {
      for (const [path, subject] of Object.entries(personal)) {
        if (!redacted.includes(path)) subjects.add(subject)
      }
    }
    // copies of the keys, made ready again for subjects a shred touched before the sealing below
    // (which is synchronous)
    const keys = new Map<string, { key: SubjectKey, mark: Mark }>()
    for (let missing = [...subjects]; missing.length > 0; missing = missing.filter(s => !this.#keys.unchanged(s, keys.get(s)!.mark))) {
      await Promise.all(missing.map(async s => {
        const cached = this.#keys.get(s)
        const { key, mark } = cached === undefined || cached === null ? await this.#current(store, s) : { key: cached, mark: this.#keys.mark(s) }
        keys.set(s, { key: { id: Buffer.from(key.id), key: Buffer.from(key.key) }, mark })
      }))
    }
    try {
      return this.#resealed(events, keys)
    } finally {
      for (const { key } of keys.values()) wipe(key)
    }
  }

  #resealed (events: ReadonlyArray<{ event: RecordedEvent, personal: Readonly<Record<string, string>>, redacted: readonly string[] }>, keys: ReadonlyMap<string, { key: SubjectKey }>): unknown[] {
    return events.map(({ event, personal, redacted }) => {
      const changes: Array<[readonly string[], unknown]> = Object.entries(personal).map(([path, subject]) => {
        const segments = path.split('.')
        if (redacted.includes(path)) {
          const lost = newKey()
          const sealed = seal(null, lost, subject, event.id, path)
          wipe(lost)
          return [segments, sealed]
        }
        return [segments, seal(at(event.data, segments), keys.get(subject)!.key, subject, event.id, path)]
      })
      return changes.length === 0 ? event.data : withValues(event.data, changes)
    })
  }

  /**
   * The personal fields of an imported event (path -> subject): those its export lists, and
   * those its type's declaration names that hold a value (its fields exported before they were
   * declared, or from a database that did not declare them).
   */
  #personalFields (event: RecordedEvent, listed: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    const declaration = this.#declarations.get(event.type)
    if (declaration === undefined) return listed
    const paths = Object.keys(listed)
    const missing = declaration.paths.filter((p, i) => {
      const value = at(event.data, declaration.fields[i]!)
      return value !== undefined && value !== null && !(value instanceof Sealed) &&
        !paths.some(q => p === q || p.startsWith(`${q}.`) || q.startsWith(`${p}.`))
    })
    if (missing.length === 0) return listed
    if (declaration.subject === undefined) throw undeclaredSubject(event.type)
    const subject = subjectOf(declaration, event.data)
    if (subject === undefined) {
      throw new AnnalsError('ANNALS_INVALID_EVENT', `The event at position ${event.position} (${event.type}) has personal data but no subject id (a non-empty string or number)`)
    }
    return { ...listed, ...Object.fromEntries(missing.map(p => [p, subject])) }
  }

  /**
   * Erases the subjects' keys. The intent is recorded first and durably, so that a crash in
   * the middle is finished at the next open and never leaves a key gone without its record.
   */
  async shred (subjects: readonly string[]): Promise<void> {
    if (!traced(shredChannel)) return await this.#shred(subjects)
    // counted, never named: subject ids are personal data
    const message = counted<ShredMessage>({ database: databaseOf(this.#storage), subjects: new Set(subjects).size })
    return await tracePromise(shredChannel, message, async () => { await this.#shred(subjects) })
  }

  async #shred (subjects: readonly string[]): Promise<void> {
    const store = this.#requireStore()
    const unique = [...new Set(subjects)]
    if (unique.length === 0) return
    await this.#storage.write(unique.map(s => ({ key: namedKey(Space.privacy, INTENTS + s), value: Buffer.alloc(0) })), true)
    await this.#finish(store, unique)
  }

  /** Finishes shreds a crash interrupted. */
  async #recover (): Promise<void> {
    const prefix = namedKey(Space.privacy, INTENTS)
    // the pending intents only: the records of finished shreds, which sort after them, can be many
    const keys = await this.#storage.allKeys(prefixRange(prefix))
    const subjects = keys.map(key => key.subarray(prefix.length).toString('utf8'))
    if (subjects.length > 0) await this.#finish(this.#requireStore(), subjects)
  }

  /** How many subjects have been shredded. */
  async shreddedCount (): Promise<number> {
    const it = this.#storage.keys(prefixRange(namedKey(Space.privacy, SHREDDED)))
    let n = 0
    try {
      for (let keys = await it.nextv(1024); keys.length > 0; keys = await it.nextv(1024)) n += keys.length
    } finally {
      await it.close()
    }
    return n
  }

  /**
   * Erases the subjects' keys from the store, then records the shreds. From the start, the
   * subjects have no key in this process: a key read from the store before or during the shred
   * is not remembered after it, and a key for a new append waits until the subject's key is
   * erased (and is a new one).
   */
  async #finish (store: KeyStore, subjects: readonly string[]): Promise<void> {
    const ends = subjects.map(s => this.#shredStarts(s))
    let failure: { err: unknown } | undefined
    for (const [i, subject] of subjects.entries()) {
      let erased = false
      try {
        if (failure === undefined) {
          await store.shred(subject)
          erased = true
        }
      } catch (err) {
        failure = { err }
      } finally {
        ends[i]!(erased)
      }
    }
    if (failure !== undefined) throw failure.err
    // every other process drops the erased keys before the shred is done
    if (this.#notices !== undefined) await Promise.all(subjects.map(async s => { await this.#notices!.notify(SHRED_TOPIC, s) }))
    const time = u64(Date.now())
    await this.#storage.write([
      ...subjects.map(s => ({ key: namedKey(Space.privacy, SHREDDED + s), value: time })),
      ...subjects.map(s => ({ key: namedKey(Space.privacy, INTENTS + s) }))
    ], true)
  }

  /** Marks the start of a subject's shred; returns what marks its end (the key erased, or not). */
  #shredStarts (subject: string): (erased: boolean) => void {
    let done!: () => void
    const shredding = new Promise<void>(resolve => { done = resolve })
    this.#shredding.set(subject, shredding)
    this.#keys.shredStarts(subject)
    return erased => {
      this.#keys.shredEnds(subject, erased)
      if (this.#shredding.get(subject) === shredding) this.#shredding.delete(subject)
      done()
    }
  }

  #openEvent (e: RecordedEvent): RecordedEvent {
    const redacted: string[] = []
    const data = mapSealedAt(e.data, '', (s, path) => {
      // a sealed field opens only in the event it was sealed for: in another, it is tampering.
      // Within its event it may have moved (an upcast step may move or copy it); the cipher still
      // binds it to the path it was sealed at, so it cannot be relabelled
      if (s.eventId !== e.id) {
        throw new AnnalsError('ANNALS_CORRUPT', `The event at position ${e.position} holds a sealed field of another place (${s.path} of ${s.eventId})`)
      }
      const value = this.#unseal(s)
      if (value === null) redacted.push(path)
      return value
    })
    return redacted.length > 0 ? { ...e, data, redacted } : { ...e, data }
  }

  /**
   * The subject's current key, made if need be, remembered: never one a shred erased while it
   * was being read or made (then it is asked for again, after the shred). With the mark taken
   * before it was asked for: a shred since then changes it.
   */
  async #current (store: KeyStore, subject: string): Promise<{ key: SubjectKey, mark: Mark }> {
    for (;;) {
      await this.#shredding.get(subject)
      const mark = this.#keys.mark(subject)
      const key = await store.getOrCreate(subject)
      if (this.#keys.unchanged(subject, mark)) return { key: this.#keys.remember(subject, key)!, mark }
    }
  }

  /** The plain value, or null when the subject's key (of that generation) is gone. */
  #unseal (s: Sealed): unknown {
    const key = this.#keys.get(s.subject)
    if (key === undefined || key === null || Buffer.compare(key.id, s.keyId) !== 0) return null
    return openSealed(s, key)
  }

  /** Reads the keys of subjects the cache does not know; one that a shred straddled is not remembered (its fields read as null). */
  async #load (subjects: Set<string>): Promise<void> {
    const store = this.#requireStore()
    await Promise.all([...subjects].filter(s => !this.#keys.has(s)).map(async s => {
      const mark = this.#keys.mark(s)
      const key = await store.get(s)
      if (this.#keys.unchanged(s, mark)) this.#keys.remember(s, key)
    }))
  }

  /** Why there is no key for a subject whose event is being sealed. */
  #noKey (subject: string): AnnalsError {
    if (this.#keys.shredLately(subject)) {
      return new AnnalsError('ANNALS_SUBJECT_SHREDDED', `Subject ${subject} was shredded while this append was being prepared; nothing of it was written (append again, and the subject gets a new key)`)
    }
    return new AnnalsError('ANNALS_STORAGE', `No key was made ready for subject ${subject}`)
  }

  #requireStore (): KeyStore {
    if (this.#store === undefined) {
      throw new AnnalsError('ANNALS_NO_KEY_STORE', 'Personal data needs a key store: give open() a keyStore option (a database opened on a level has no folder to keep keys in)')
    }
    return this.#store
  }
}

function subjectOf (declaration: Declaration | undefined, data: unknown): string | undefined {
  if (declaration?.subject === undefined) return undefined
  const subject = declaration.subject(data)
  if (typeof subject === 'number' && Number.isFinite(subject)) return String(subject)
  return typeof subject === 'string' && subject.length > 0 ? subject : undefined
}

function undeclaredSubject (type: string): AnnalsError {
  return new AnnalsError('ANNALS_SUBJECT_UNDECLARED', `The personal data of '${type}' has a function as its subject, which this process did not declare: declare it (definePersonalData or the personalData option) before appending events of that type`)
}

/** Like mapSealed, telling `open` the dotted path where each sealed value was found. */
function mapSealedAt (value: unknown, path: string, open: (s: Sealed, path: string) => unknown): unknown {
  if (value instanceof Sealed) return open(value, path)
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || value instanceof Date) return value
  let out: Record<string, unknown> | unknown[] | undefined
  for (const key of Object.keys(value)) {
    const before = (value as Record<string, unknown>)[key]
    const after = mapSealedAt(before, path === '' ? key : `${path}.${key}`, open)
    if (after !== before) {
      out ??= Array.isArray(value) ? value.slice() : { ...(value as Record<string, unknown>) }
      ;(out as Record<string, unknown>)[key] = after
    }
  }
  return out ?? value
}
