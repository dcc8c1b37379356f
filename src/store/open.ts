// open(): composes storage, log, privacy and subscriptions into the public database object.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { LevelBackend } from '../backend/level/level-backend.js'
import type { AnyLevel } from '../backend/level/door.js'
import type { Backend } from '../backend/backend.js'
import { PostgresBackend } from '../backend/postgres/postgres-backend.js'
import { AnnalsError } from '../errors.js'
import { checkEventDeclarations, type EventDeclaration } from '../log/event-declarations.js'
import { Log } from '../log/log.js'
import { DEFAULT_MAX_EVENT_SIZE, checkKeys, checkOptions } from '../log/validate.js'
import { checkDeclaration, type PersonalData } from '../privacy/declarations.js'
import type { KeyStore } from '../privacy/key-store.js'
import { LevelKeyStore } from '../privacy/level-key-store.js'
import { PostgresKeyStore } from '../privacy/postgres-key-store.js'
import { Privacy } from '../privacy/privacy.js'
import { Annals } from './annals.js'
import { setInternals } from './internals.js'
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
  const levelOptions = { sync: o.sync ?? false }
  const backend: Backend = postgres !== undefined
    ? await PostgresBackend.open(postgres.postgres, postgres.schema)
    : level === undefined ? await LevelBackend.openPath(location as string, levelOptions) : await LevelBackend.openLevel(level, levelOptions)
  // a key store of our own, in the folder (or the schema): opened (and the master key checked)
  // now if it exists or a master key is given, else on first use, so that databases without
  // personal data never grow a keys folder
  const ownStore = o.keyStore !== undefined || level !== undefined
    ? undefined
    : backend instanceof PostgresBackend
      ? new PostgresKeyStore(backend.connection.pool, { schema: backend.connection.schema, ...(o.masterKey === undefined ? {} : { masterKey: o.masterKey }) })
      : new LevelKeyStore(join(location as string, 'keys'), o.masterKey === undefined ? {} : { masterKey: o.masterKey })
  try {
    if (ownStore instanceof PostgresKeyStore) await ownStore.verify()
    else if (ownStore !== undefined && (o.masterKey !== undefined || existsSync(ownStore.location))) await ownStore.verify()
    const maxEventSize = o.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE
    const log = new Log(backend, { maxEventSize, sync: o.sync ?? false })
    log.upcaster.define(events)
    // the personal-data declarations stored in the database, merged with those given
    const privacy = await Privacy.open(backend.storage, ownStore ?? o.keyStore, o.personalData)
    log.setTransform(privacy)
    const db = new Annals(log, privacy, ownStore, maxEventSize)
    setInternals(db, { log, privacy })
    return db
  } catch (err) {
    await ownStore?.close()
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

const OPEN_OPTIONS = ['sync', 'maxEventSize', 'masterKey', 'keyStore', 'personalData', 'events']

function checkOpenOptions (options: unknown): OpenOptions {
  const { sync, maxEventSize, masterKey, keyStore, personalData } = checkOptions<OpenOptions>(options, 'open', OPEN_OPTIONS)
  if (sync !== undefined && typeof sync !== 'boolean') throw new TypeError('sync must be a boolean')
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
