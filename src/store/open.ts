// open(): composes storage, log, privacy and subscriptions into the public database object.
import type { Backend } from '../backend/backend.js'
import { LevelBackend } from '../backend/level/level-backend.js'
import type { AnyLevel } from '../backend/level/door.js'
import { PostgresBackend } from '../backend/postgres/postgres-backend.js'
import { AnnalsError } from '../errors.js'
import { checkEventDeclarations, type EventDeclaration } from '../log/event-declarations.js'
import { Log } from '../log/log.js'
import { DEFAULT_MAX_EVENT_SIZE, checkKeys, checkOptions } from '../log/validate.js'
import { checkDeclaration, type PersonalData } from '../privacy/declarations.js'
import type { KeyStore } from '../privacy/key-store.js'
import { PostgresKeyStore } from '../privacy/postgres-key-store.js'
import { Privacy } from '../privacy/privacy.js'
import { openFolder } from '../net/attach.js'
import { OwnerBoundStorage } from '../net/switching-storage.js'
import { Annals, type OwnKeyStore } from './annals.js'
import { setInternals, type Internals } from './internals.js'
import { checkPostgres, type PostgresLocation } from './postgres-location.js'

/**
 * Options of {@link open}.
 *
 * @example
 * ```ts
 * const db = await open('./data', { sync: true, maxEventSize: 1024 * 1024 })
 * ```
 */
export interface OpenOptions {
  /**
   * Make every append durable on disk (fsync) before it resolves. Default `false`: an append
   * survives a crash of the process, but not of the machine. Appends may also say `sync`.
   * On PostgreSQL every append is as durable as the server makes its commits (see
   * docs/postgres.md); `sync: false` lets writes of projections and checkpoints skip the wait.
   */
  sync?: boolean
  /** Largest encoded event, in bytes. Default 4 MiB. */
  maxEventSize?: number
  /**
   * 32 bytes under which subjects' keys are stored wrapped (envelope encryption), in the key
   * store annals keeps in the database's folder (or its `keys` table on PostgreSQL). Without
   * it, keys are stored as they are.
   */
  masterKey?: Uint8Array
  /**
   * Where subjects' keys live. Default for a database in a folder: a LevelDB in its `keys`
   * folder; on PostgreSQL, the `keys` table of its schema. A database opened on a `level` needs
   * one to hold personal data.
   */
  keyStore?: KeyStore
  /**
   * Personal fields by event type; the same as calling `definePersonalData` for each. They are
   * merged with the declarations stored in the database (which are in force without them), and
   * stored before `open` resolves; another subject than a stored one fails the open with
   * `ANNALS_DECLARATION_CONFLICT`.
   */
  personalData?: Record<string, PersonalData>
  /**
   * Schema versions by event type, with the steps that read older events at the current
   * version; the same as calling `defineEvent` for each. Appends of a declared type record its
   * version; reads upcast events stored at older ones (see docs/evolution.md). Not stored in the
   * database: give them at every open.
   */
  events?: Record<string, EventDeclaration>
  /**
   * Open the folder only as its owner, admitting no other process: `ANNALS_LOCKED` when another
   * process holds it. Default `false`: when another process holds the folder, this one becomes
   * its client (see docs/processes.md). Folders only.
   */
  exclusive?: boolean
  /**
   * How long a client process whose owner went away tries to reach or become a new owner
   * before its calls fail with `ANNALS_OWNER_LOST`, in ms. Default 30,000. Folders only.
   */
  failoverTimeout?: number
}

/**
 * Where the database lives: a folder (LevelDB through classic-level), any abstract-level
 * database you opened and will close, such as a `MemoryLevel` or a sublevel (give annals a
 * database or sublevel of its own), or PostgreSQL (see {@link PostgresLocation}).
 *
 * @example
 * ```ts
 * await open('./data')                                      // a folder
 * await open({ level: new MemoryLevel() })                  // in memory
 * await open({ level: new ClassicLevel('./app').sublevel('events') })  // part of your own LevelDB
 * await open({ postgres: 'postgres://app@db.internal/app' })           // PostgreSQL, schema annals
 * ```
 */
export type Location = string | { level: AnyLevel } | PostgresLocation

/**
 * Opens (creating if needed) an annals database.
 *
 * @example
 * ```ts
 * import { open } from 'annals'
 * import { MemoryLevel } from 'memory-level'
 *
 * const db = await open('./data')                      // LevelDB in ./data
 * const mem = await open({ level: new MemoryLevel() })  // or any abstract-level database
 * ```
 */
export async function open (location: Location, options?: OpenOptions): Promise<Annals> {
  const o = checkOpenOptions(options)
  const events = checkEventDeclarations(o.events)
  const postgres = typeof location === 'object' && location !== null && 'postgres' in location ? checkPostgres(location) : undefined
  const level = typeof location === 'string' || postgres !== undefined ? undefined : checkLevel(location)
  if (o.masterKey !== undefined && (level !== undefined || o.keyStore !== undefined)) {
    throw new TypeError('masterKey is for the key store annals keeps in a database folder or schema; give your own key store its master key')
  }
  if (level !== undefined && o.keyStore === undefined && Object.keys(o.personalData ?? {}).length > 0) {
    throw new AnnalsError('ANNALS_NO_KEY_STORE', 'personalData on a database opened on a level needs a keyStore')
  }
  if (postgres !== undefined) {
    if (o.exclusive !== undefined || o.failoverTimeout !== undefined) throw new TypeError('exclusive and failoverTimeout are for databases in a folder')
    const backend = await PostgresBackend.open(postgres.postgres, postgres.schema)
    // a key store of our own in the schema, its master key checked now
    const ownStore = o.keyStore !== undefined
      ? undefined
      : new PostgresKeyStore(backend.connection.pool, { schema: backend.connection.schema, ...(o.masterKey === undefined ? {} : { masterKey: o.masterKey }) })
    try {
      await ownStore?.verify()
    } catch (err) {
      await ownStore?.close()
      await backend.close()
      throw err
    }
    // compose closes the backend if it fails
    return await compose(backend, ownStore ?? o.keyStore, ownStore, o, events, {}).catch(async (err: unknown) => {
      await ownStore?.close()
      throw err
    })
  }
  if (level === undefined) {
    const folder = await openFolder(location as string, {
      sync: o.sync, masterKey: o.masterKey, keyStore: o.keyStore, exclusive: o.exclusive ?? false, failoverTimeout: o.failoverTimeout ?? FAILOVER_TIMEOUT
    })
    const parts = {
      backup: async (dest: string) => { await folder.backend.call(async b => { await b.backup(dest) }, 'unsent') },
      snapshot: async () => new OwnerBoundStorage(await folder.backend.call(async b => await b.snapshot(), 'always'))
    }
    return await compose(folder.backend, folder.keyStore, folder.folderKeys, o, events, parts)
  }
  if (o.exclusive !== undefined || o.failoverTimeout !== undefined) throw new TypeError('exclusive and failoverTimeout are for databases in a folder')
  return await compose(await LevelBackend.openLevel(level, { sync: o.sync ?? false }), o.keyStore, undefined, o, events, {})
}

/** The default of `failoverTimeout`, in ms. */
const FAILOVER_TIMEOUT = 30_000

/** The log, privacy and the database object, over a backend (closed if this fails). */
async function compose (backend: Backend, keyStore: KeyStore | undefined, ownKeyStore: OwnKeyStore | undefined, o: OpenOptions,
  events: ReturnType<typeof checkEventDeclarations>, parts: Pick<Internals, 'backup' | 'snapshot'>): Promise<Annals> {
  try {
    const maxEventSize = o.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE
    const log = new Log(backend, { maxEventSize, sync: o.sync ?? false })
    log.upcaster.define(events)
    // the personal-data declarations stored in the database, merged with those given
    const privacy = await Privacy.open(backend.storage, keyStore, o.personalData, backend)
    log.setTransform(privacy)
    const db = new Annals(log, privacy, ownKeyStore, maxEventSize)
    setInternals(db, { log, privacy, ...parts })
    return db
  } catch (err) {
    await backend.close()
    throw err
  }
}

function checkLevel (location: unknown): AnyLevel {
  if (typeof location === 'object' && location !== null) checkKeys(location, 'The location of open', ['level'])
  const level = typeof location === 'object' && location !== null ? (location as { level?: unknown }).level : undefined
  if (typeof level !== 'object' || level === null || typeof (level as AnyLevel).batch !== 'function' ||
      typeof (level as AnyLevel).iterator !== 'function') {
    throw new TypeError('open() takes a folder path or { level } with an abstract-level database')
  }
  return level as AnyLevel
}

const OPEN_OPTIONS = ['sync', 'maxEventSize', 'masterKey', 'keyStore', 'personalData', 'events', 'exclusive', 'failoverTimeout']

function checkOpenOptions (options: unknown): OpenOptions {
  const { sync, maxEventSize, masterKey, keyStore, personalData, exclusive, failoverTimeout } = checkOptions<OpenOptions>(options, 'open', OPEN_OPTIONS)
  if (sync !== undefined && typeof sync !== 'boolean') throw new TypeError('sync must be a boolean')
  if (exclusive !== undefined && typeof exclusive !== 'boolean') throw new TypeError('exclusive must be a boolean')
  if (failoverTimeout !== undefined && !(Number.isSafeInteger(failoverTimeout) && failoverTimeout >= 0)) throw new TypeError('failoverTimeout must be a non-negative integer of ms')
  if (maxEventSize !== undefined && !(Number.isSafeInteger(maxEventSize) && maxEventSize > 0)) {
    throw new TypeError('maxEventSize must be a positive integer')
  }
  if (masterKey !== undefined && !(masterKey instanceof Uint8Array && masterKey.length === 32)) {
    throw new TypeError('masterKey must be 32 bytes (a Buffer or Uint8Array)')
  }
  if (keyStore !== undefined && (typeof keyStore !== 'object' || keyStore === null ||
      typeof keyStore.getOrCreate !== 'function' || typeof keyStore.get !== 'function' || typeof keyStore.shred !== 'function')) {
    throw new TypeError('keyStore must have getOrCreate, get and shred methods')
  }
  if (personalData !== undefined) {
    if (typeof personalData !== 'object' || personalData === null || Array.isArray(personalData)) throw new TypeError('personalData must be an object of declarations by event type')
    // checked before anything is opened, so that a bad declaration leaves no folder behind
    for (const [type, spec] of Object.entries(personalData)) checkDeclaration(type, spec)
  }
  return (options ?? {}) as OpenOptions
}
