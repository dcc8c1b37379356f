// Crypto-shredding: personal fields sealed on the way into the log and opened on the way out,
// with a key per data subject; `shred` deletes the subject's key, and every copy of its
// personal fields (in events, and in the views and snapshots they were copied into sealed)
// reads as null from then on. This is the log's event transform (see log/hooks.ts).
import { AnnalsError } from '../errors.js'
import type { EventTransform } from '../log/hooks.js'
import { withExtensions } from '../log/record.js'
import type { RecordedEvent } from '../log/types.js'
import { Space, namedKey, prefixRange, u64 } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { open as openSealed, seal, type SubjectKey } from './cipher.js'
import { at, checkDeclaration, withValues, type Declaration, type PersonalData } from './declarations.js'
import { newKey, wipe, type KeyStore } from './key-store.js'
import { Sealed, eachSealed, mapSealed } from './sealed.js'

/** Subjects whose keys are kept in memory. */
const KEY_CACHE_SIZE = 65536
const INTENTS = 'intent/'
const SHREDDED = 'shredded/'

export class Privacy implements EventTransform {
  readonly #storage: Storage
  readonly #store: KeyStore | undefined
  readonly #declarations = new Map<string, Declaration>()
  /** copies of keys (null: the subject has none), oldest first */
  readonly #keys = new Map<string, SubjectKey | null>()

  constructor (storage: Storage, store: KeyStore | undefined) {
    this.#storage = storage
    this.#store = store
  }

  /** Declares personal fields of an event type; `TypeError` on misuse, `ANNALS_NO_KEY_STORE` without a key store. */
  declare (type: string, spec: PersonalData): void {
    const [checked, declaration] = checkDeclaration(type, spec)
    this.#requireStore()
    this.#declarations.set(checked, declaration)
  }

  seals (type: string): boolean {
    return this.#declarations.has(type)
  }

  async prepare (events: ReadonlyArray<{ type: string, data: unknown }>): Promise<void> {
    const store = this.#requireStore()
    const subjects = new Set<string>()
    for (const e of events) {
      const subject = subjectOf(this.#declarations.get(e.type), e.data)
      // an invalid subject fails its append in seal(); it must not fail the others here
      if (typeof subject === 'string' && (this.#keys.get(subject) ?? null) === null) subjects.add(subject)
    }
    await Promise.all([...subjects].map(async s => { this.#remember(s, await store.getOrCreate(s)) }))
  }

  seal (event: RecordedEvent): unknown {
    const declaration = this.#declarations.get(event.type)!
    const subject = subjectOf(declaration, event.data)
    if (typeof subject !== 'string') {
      throw new AnnalsError('ANNALS_INVALID_EVENT', `An event of type '${event.type}' has personal data but no subject id (a non-empty string or number)`)
    }
    const key = this.#keys.get(subject)
    if (key === undefined || key === null) throw new AnnalsError('ANNALS_STORAGE', `No key was made ready for subject ${subject}`)
    const changes: Array<[readonly string[], unknown]> = []
    declaration.fields.forEach((path, i) => {
      const value = at(event.data, path)
      if (value === undefined || value === null || value instanceof Sealed) return
      changes.push([path, seal(value, key, subject, event.id, declaration.paths[i]!)])
    })
    return changes.length === 0 ? event.data : withValues(event.data, changes)
  }

  stable (type: string, sealed: unknown): unknown {
    const declaration = this.#declarations.get(type)
    if (declaration === undefined) return mapSealed(sealed, s => `personal:${s.path}`)
    const changes: Array<[readonly string[], unknown]> = []
    declaration.fields.forEach((path, i) => {
      if (at(sealed, path) !== undefined) changes.push([path, `personal:${declaration.paths[i]!}`])
    })
    return changes.length === 0 ? sealed : withValues(sealed, changes)
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
  async reseal (events: ReadonlyArray<{ event: RecordedEvent, personal: Readonly<Record<string, string>>, redacted: readonly string[] }>): Promise<unknown[]> {
    const store = this.#requireStore()
    const subjects = new Set<string>()
    for (const { personal, redacted } of events) {
      for (const [path, subject] of Object.entries(personal)) {
        if (!redacted.includes(path) && (this.#keys.get(subject) ?? null) === null) subjects.add(subject)
      }
    }
    const keys = new Map<string, SubjectKey>()
    await Promise.all([...subjects].map(async s => { keys.set(s, await store.getOrCreate(s)) }))
    for (const [subject, key] of keys) this.#remember(subject, key)
    return events.map(({ event, personal, redacted }) => {
      const changes: Array<[readonly string[], unknown]> = Object.entries(personal).map(([path, subject]) => {
        const segments = path.split('.')
        if (redacted.includes(path)) {
          const lost = newKey()
          const sealed = seal(null, lost, subject, event.id, path)
          wipe(lost)
          return [segments, sealed]
        }
        const key = keys.get(subject) ?? this.#keys.get(subject)
        if (key === undefined || key === null) throw new AnnalsError('ANNALS_STORAGE', `No key was made ready for subject ${subject}`)
        return [segments, seal(at(event.data, segments), key, subject, event.id, path)]
      })
      return changes.length === 0 ? event.data : withValues(event.data, changes)
    })
  }

  /**
   * Erases the subjects' keys. The intent is recorded first and durably, so that a crash in
   * the middle is finished at the next open and never leaves a key gone without its record.
   */
  async shred (subjects: readonly string[]): Promise<void> {
    const store = this.#requireStore()
    const unique = [...new Set(subjects)]
    if (unique.length === 0) return
    await this.#storage.write(unique.map(s => ({ key: namedKey(Space.privacy, INTENTS + s), value: Buffer.alloc(0) })), true)
    await this.#finish(store, unique)
  }

  /** Finishes shreds a crash interrupted. */
  async recover (): Promise<void> {
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

  async #finish (store: KeyStore, subjects: readonly string[]): Promise<void> {
    for (const subject of subjects) {
      await store.shred(subject)
      this.#forget(subject)
    }
    const time = u64(Date.now())
    await this.#storage.write([
      ...subjects.map(s => ({ key: namedKey(Space.privacy, SHREDDED + s), value: time })),
      ...subjects.map(s => ({ key: namedKey(Space.privacy, INTENTS + s) }))
    ], true)
  }

  #openEvent (e: RecordedEvent): RecordedEvent {
    const redacted: string[] = []
    const data = mapSealedAt(e.data, '', (s, path) => {
      // a sealed field opens only where it was sealed: moved elsewhere, it is tampering
      if (s.eventId !== e.id || s.path !== path) {
        throw new AnnalsError('ANNALS_CORRUPT', `The event at position ${e.position} holds a sealed field of another place (${s.path} of ${s.eventId})`)
      }
      const value = this.#unseal(s)
      if (value === null) redacted.push(path)
      return value
    })
    return redacted.length > 0 ? { ...e, data, redacted } : { ...e, data }
  }

  /** The plain value, or null when the subject's key (of that generation) is gone. */
  #unseal (s: Sealed): unknown {
    const key = this.#keys.get(s.subject)
    if (key === undefined || key === null || Buffer.compare(key.id, s.keyId) !== 0) return null
    return openSealed(s, key)
  }

  async #load (subjects: Set<string>): Promise<void> {
    const store = this.#requireStore()
    await Promise.all([...subjects].filter(s => !this.#keys.has(s)).map(async s => { this.#remember(s, await store.get(s)) }))
  }

  #remember (subject: string, key: SubjectKey | undefined): void {
    const previous = this.#keys.get(subject)
    if (previous !== undefined && previous !== null) wipe(previous)
    this.#keys.delete(subject)
    // a copy: the store may hand out objects it keeps, and this cache wipes what it drops
    this.#keys.set(subject, key === undefined ? null : { id: Buffer.from(key.id), key: Buffer.from(key.key) })
    this.#bound()
  }

  /** Wipes the subject's key and remembers it has none. */
  #forget (subject: string): void {
    const key = this.#keys.get(subject)
    if (key !== undefined && key !== null) wipe(key)
    this.#keys.delete(subject)
    this.#keys.set(subject, null)
    this.#bound()
  }

  /** Drops the oldest entry past the cache's size; the store has it when it is needed again. */
  #bound (): void {
    if (this.#keys.size <= KEY_CACHE_SIZE) return
    const oldest = this.#keys.keys().next().value as string
    const key = this.#keys.get(oldest)
    if (key !== undefined && key !== null) wipe(key)
    this.#keys.delete(oldest)
  }

  #requireStore (): KeyStore {
    if (this.#store === undefined) {
      throw new AnnalsError('ANNALS_NO_KEY_STORE', 'Personal data needs a key store: give open() a keyStore option (a database opened on a level has no folder to keep keys in)')
    }
    return this.#store
  }
}

function subjectOf (declaration: Declaration | undefined, data: unknown): string | undefined {
  if (declaration === undefined) return undefined
  const subject = declaration.subject(data)
  if (typeof subject === 'number' && Number.isFinite(subject)) return String(subject)
  return typeof subject === 'string' && subject.length > 0 ? subject : undefined
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
