// open(): composes storage, log and subscriptions into the public database object.
import { Log } from '../log/log.js'
import { Storage, type AnyLevel } from '../storage/storage.js'
import { Annals } from './annals.js'

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
   */
  sync?: boolean
  /** Largest encoded event, in bytes. Default 4 MiB. */
  maxEventSize?: number
}

/**
 * Where the database lives: a folder (LevelDB through classic-level), or any abstract-level
 * database you opened and will close, such as a `MemoryLevel` or a sublevel. Give annals a
 * database or sublevel of its own.
 *
 * @example
 * ```ts
 * await open('./data')                                      // a folder
 * await open({ level: new MemoryLevel() })                  // in memory
 * await open({ level: new ClassicLevel('./app').sublevel('events') })  // part of your own LevelDB
 * ```
 */
export type Location = string | { level: AnyLevel }

const DEFAULT_MAX_EVENT_SIZE = 4 * 1024 * 1024

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
  const storage = typeof location === 'string'
    ? await Storage.openPath(location)
    : await Storage.openLevel(checkLevel(location))
  try {
    const log = await Log.open(storage, { sync: o.sync ?? false, maxEventSize: o.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE })
    return new Annals(log)
  } catch (err) {
    await storage.close()
    throw err
  }
}

function checkLevel (location: unknown): AnyLevel {
  const level = typeof location === 'object' && location !== null ? (location as { level?: unknown }).level : undefined
  if (typeof level !== 'object' || level === null || typeof (level as AnyLevel).batch !== 'function' ||
      typeof (level as AnyLevel).iterator !== 'function') {
    throw new TypeError('open() takes a folder path or { level } with an abstract-level database')
  }
  return level as AnyLevel
}

function checkOpenOptions (options: unknown): OpenOptions {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null) throw new TypeError('The open options must be an object')
  const { sync, maxEventSize } = options as OpenOptions
  if (sync !== undefined && typeof sync !== 'boolean') throw new TypeError('sync must be a boolean')
  if (maxEventSize !== undefined && !(Number.isSafeInteger(maxEventSize) && maxEventSize > 0)) {
    throw new TypeError('maxEventSize must be a positive integer')
  }
  return options as OpenOptions
}
