// The default key store of a database in a folder: a LevelDB of its own in `<folder>/keys`. It
// stays small, so erasing from it is quick, and no long-lived iterator on the event database
// can hold its compaction back. Table files are written uncompressed: the store is tiny, and
// a scan of its files for a key's bytes then means what it says.
//
// Erasing a key from LevelDB takes more than `del`: the value stays in table files until a
// compaction rewrites them, and one compaction is not always enough (a value and its tombstone
// flushed together into the bottom level keep the old bytes). What cleared every case in our
// experiments: delete, compact the range, delete again, compact again, with no iterator or
// snapshot open on the database. That is what `shred` does.
import { existsSync, mkdirSync } from 'node:fs'
import { ClassicLevel } from 'classic-level'
import { AnnalsError } from '../errors.js'
import { checkOptions } from '../log/validate.js'
import { storageError } from '../backend/level/door.js'
import { snapshotIterator } from '../backend/level/backup.js'
import type { SubjectKey } from './cipher.js'
import { checkMasterKey, checkRecord, packKey, unpackKey, verifyCheckRecord } from './key-wrapping.js'
import { newKey, wipe, type KeyStore } from './key-store.js'

const CHECK = Buffer.from('check')
const KEY_PREFIX = 0x6b // 'k'
const BUFFERS = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const

function keyOf (subject: string): Buffer {
  return Buffer.concat([Buffer.from([KEY_PREFIX]), Buffer.from(subject, 'utf8')])
}

/** Options of {@link LevelKeyStore}. */
export interface LevelKeyStoreOptions {
  /** 32 bytes: keys are stored wrapped (encrypted) under it. Without it, they are stored as they are. */
  masterKey?: Uint8Array
}

/**
 * Subjects' keys in a LevelDB folder, wrapped under a master key if one is given. The database
 * is created on first use.
 *
 * @example
 * ```ts
 * const keyStore = new LevelKeyStore('./keys', { masterKey })
 * const db = await open({ level: new ClassicLevel('./events') }, { keyStore })
 * ```
 */
export class LevelKeyStore implements KeyStore {
  readonly location: string
  #masterKey: Buffer | undefined
  #db: ClassicLevel<Buffer, Buffer> | undefined
  #opening: Promise<ClassicLevel<Buffer, Buffer>> | undefined
  readonly #creating = new Map<string, Promise<SubjectKey>>()
  /** new keys waiting to be written together, with one fsync */
  #pending: Array<{ subject: string, key: SubjectKey, done: (err?: unknown) => void }> = []
  /**
   * Writes and shreds under way. A master key rotation waits for them to end and holds new ones
   * back until it is done: a key written meanwhile would stay wrapped under the old master key,
   * and a key shredded meanwhile would be written back by the rotation's batch.
   */
  readonly #changing = new Set<Promise<unknown>>()
  #rotating: Promise<void> | undefined

  constructor (location: string, options?: LevelKeyStoreOptions) {
    if (typeof location !== 'string' || location.length === 0) throw new TypeError('LevelKeyStore needs a folder path')
    this.location = location
    const { masterKey } = checkOptions<LevelKeyStoreOptions>(options, 'LevelKeyStore', ['masterKey'])
    if (masterKey !== undefined) this.#masterKey = checkMasterKey(masterKey)
  }

  /** Opens the store and checks the master key now, rather than on first use. */
  async verify (): Promise<void> {
    await this.#open()
  }

  async getOrCreate (subject: string): Promise<SubjectKey> {
    // one creation per subject at a time: two concurrent appends must not make two keys
    const pending = this.#creating.get(subject)
    if (pending !== undefined) return await pending
    const creating = (async () => {
      const existing = await this.get(subject)
      if (existing !== undefined) return existing
      const key = newKey()
      await this.#write(subject, key)
      return key
    })()
    this.#creating.set(subject, creating)
    try {
      return await creating
    } finally {
      this.#creating.delete(subject)
    }
  }

  /**
   * Writes a new key, durable (fsync) before it resolves: before any event sealed with it can
   * be. Keys made in the same turn of the event loop share one batch and one fsync.
   */
  async #write (subject: string, key: SubjectKey): Promise<void> {
    const db = await this.#open()
    await new Promise<void>((resolve, reject) => {
      if (this.#pending.length === 0) queueMicrotask(() => { void this.#flush(db) })
      this.#pending.push({ subject, key, done: err => { if (err === undefined) resolve(); else reject(err) } })
    })
  }

  async #flush (db: ClassicLevel<Buffer, Buffer>): Promise<void> {
    await this.#change(async () => { await this.#flushNow(db) })
  }

  async #flushNow (db: ClassicLevel<Buffer, Buffer>): Promise<void> {
    const pending = this.#pending
    this.#pending = []
    const batch = db.batch()
    for (const { subject, key } of pending) batch.put(keyOf(subject), this.#pack(subject, key))
    let failure: unknown
    try {
      await batch.write({ sync: true })
    } catch (err) {
      failure = storageError(err)
    }
    for (const p of pending) p.done(failure)
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    const db = await this.#open()
    // a rotation swaps the master key after its batch is written: read before, or after
    while (this.#rotating !== undefined) await this.#rotating.catch(() => {})
    let value: Buffer | undefined
    try {
      value = db.getSync(keyOf(subject))
    } catch (err) {
      throw storageError(err)
    }
    return value === undefined ? undefined : this.#unpack(subject, value)
  }

  async shred (subject: string): Promise<void> {
    const db = await this.#open()
    const key = keyOf(subject)
    const end = Buffer.concat([key, Buffer.from([0])])
    await this.#change(async () => {
      try {
        await db.del(key)
        await db.compactRange(key, end)
        await db.del(key)
        await db.compactRange(key, end)
      } catch (err) {
        throw storageError(err)
      }
    })
  }

  /** Runs a write or shred once no rotation is under way, and lets rotations wait for it. */
  async #change (work: () => Promise<void>): Promise<void> {
    while (this.#rotating !== undefined) await this.#rotating.catch(() => {})
    const running = work()
    this.#changing.add(running)
    try {
      await running
    } finally {
      this.#changing.delete(running)
    }
  }

  /**
   * Re-wraps every key under `masterKey` (or stores them unwrapped, with `undefined`), in one
   * atomic batch, then compacts so that the old wrapped forms leave the files. Keys made or
   * shredded meanwhile wait for the batch: none stays wrapped under the old key, none comes back.
   */
  async rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void> {
    const next = masterKey === undefined ? undefined : checkMasterKey(masterKey)
    const db = await this.#open()
    // one rotation at a time, alone: no key written or shredded while it runs
    while (this.#rotating !== undefined) await this.#rotating.catch(() => {})
    const rotating = (async () => {
      await Promise.allSettled([...this.#changing])
      await this.#rotate(db, next)
    })()
    this.#rotating = rotating
    try {
      await rotating
    } finally {
      if (this.#rotating === rotating) this.#rotating = undefined
    }
    // the old wrapped forms leave the files
    try {
      await db.compactRange(Buffer.alloc(0), Buffer.from([0xff]))
    } catch (err) {
      throw storageError(err)
    }
  }

  async #rotate (db: ClassicLevel<Buffer, Buffer>, next: Buffer | undefined): Promise<void> {
    const batch = db.batch()
    for await (const [k, v] of db.iterator({ gt: Buffer.from([KEY_PREFIX]), lt: Buffer.from([KEY_PREFIX + 1]) })) {
      const subject = k.subarray(1).toString('utf8')
      const key = this.#unpack(subject, v)
      batch.put(k, packKey(next, subject, key))
      wipe(key)
    }
    batch.put(CHECK, checkRecord(next))
    await batch.write({ sync: true })
    this.#masterKey = next
  }

  /**
   * An iterator over every record of the store as it is now (for a backup), or undefined when
   * the store was never made. Taken between rotations, never during one.
   */
  async snapshot (): Promise<ReturnType<typeof snapshotIterator> | undefined> {
    if (this.#db === undefined && this.#opening === undefined && !existsSync(this.location)) return undefined
    const db = await this.#open()
    while (this.#rotating !== undefined) await this.#rotating.catch(() => {})
    return snapshotIterator(db as never)
  }

  async close (): Promise<void> {
    const db = this.#db ?? (this.#opening === undefined ? undefined : await this.#opening.catch(() => undefined))
    await db?.close()
    this.#db = undefined
    this.#opening = undefined
  }

  async #open (): Promise<ClassicLevel<Buffer, Buffer>> {
    if (this.#db !== undefined) return this.#db
    this.#opening ??= (async () => {
      mkdirSync(this.location, { recursive: true })
      const db = new ClassicLevel<Buffer, Buffer>(this.location, { ...BUFFERS, compression: false })
      try {
        await db.open()
      } catch (err) {
        const locked = (err as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED'
        throw locked
          ? new AnnalsError('ANNALS_LOCKED', `The key store at ${this.location} is open in another process`, { cause: err })
          : storageError(err)
      }
      try {
        await this.#check(db)
      } catch (err) {
        await db.close()
        throw err
      }
      this.#db = db
      return db
    })()
    try {
      return await this.#opening
    } catch (err) {
      this.#opening = undefined
      throw err
    }
  }

  /** Checks the master key against the store's check record; writes one in a new store. */
  async #check (db: ClassicLevel<Buffer, Buffer>): Promise<void> {
    const stored = await db.get(CHECK)
    if (stored === undefined) {
      await db.batch().put(CHECK, checkRecord(this.#masterKey)).write({ sync: true })
      return
    }
    verifyCheckRecord(this.#masterKey, stored)
  }

  #pack (subject: string, key: SubjectKey): Buffer {
    return packKey(this.#masterKey, subject, key)
  }

  #unpack (subject: string, value: Buffer): SubjectKey {
    return unpackKey(this.#masterKey, subject, value)
  }
}
