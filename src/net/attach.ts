// Opening a database folder: as its owner when its LevelDB lock is free, else as a client of
// the process that holds it (found through the owner file); and, when that owner goes away,
// again: one of its clients wins the lock and becomes the owner, the others connect to it.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { LevelBackend } from '../backend/level/level-backend.js'
import { AnnalsError } from '../errors.js'
import type { KeyStore } from '../privacy/key-store.js'
import { LevelKeyStore } from '../privacy/level-key-store.js'
import { ClientBackend } from './client-backend.js'
import { Connection } from './connection.js'
import { FolderOwner } from './folder-owner.js'
import { alive, readOwner, realFolder } from './paths.js'
import { FolderKeyStore } from './switching-storage.js'
import { SwitchingBackend, type Attached } from './switching.js'

/** How a process opens a folder. */
export interface FolderOptions {
  /** the default `sync` of this process's appends; undefined: the owner's (false for an owner) */
  sync: boolean | undefined
  masterKey: Uint8Array | undefined
  /** a key store of the caller's, used instead of the folder's */
  keyStore: KeyStore | undefined
  /** owner only, admitting no clients */
  exclusive: boolean
  /** how long a client that lost its owner tries to reach or become a new one, in ms */
  failoverTimeout: number
}

/** A database folder, opened. */
export interface Folder {
  backend: SwitchingBackend
  /** where privacy keeps subjects' keys: the caller's key store, or the folder's (the owner's) */
  keyStore: KeyStore
  /** the folder's key store, when it is the one in use (rotateMasterKey) */
  folderKeys: FolderKeyStore | undefined
}

/** How long an open waits for a process that holds the folder to admit it, in ms. */
const OPEN_WAIT = 3000
/** Longest pause between two attempts, in ms. */
const MAX_PAUSE = 40

/** Folders open in annals in this process (by real path): one open each. */
const inUse = new Set<string>()

/**
 * Opens `dir`: the owner when its lock is free, else a client of its owner. `ANNALS_LOCKED`
 * when this process has it open already, or the holder admits no clients.
 */
export async function openFolder (dir: string, options: FolderOptions): Promise<Folder> {
  const key = realFolder(dir)
  if (inUse.has(key)) throw new AnnalsError('ANNALS_LOCKED', 'This database is already open in annals in this process; close that instance first')
  inUse.add(key)
  try {
    const first = await attach(dir, options, Date.now() + OPEN_WAIT, () => false, true)
    const backend = new SwitchingBackend(first, async closed => await attach(dir, options, Date.now() + options.failoverTimeout, closed, false), () => { inUse.delete(key) })
    const folderKeys = options.keyStore === undefined ? new FolderKeyStore(backend, k => { options.masterKey = k }) : undefined
    return { backend, keyStore: options.keyStore ?? folderKeys!, folderKeys }
  } catch (err) {
    inUse.delete(key)
    throw err
  }
}

/** Becomes the owner, or a client of the owner; tries again until `deadline`. */
async function attach (dir: string, options: FolderOptions, deadline: number, closed: () => boolean, first: boolean): Promise<Attached> {
  let pause = 2
  // a token refused: read from the file of an owner gone since, or wrong (refused again)
  let refused: string | undefined
  for (;;) {
    if (closed()) throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    let held: AnnalsError
    try {
      return await own(dir, options)
    } catch (err) {
      if (!(err instanceof AnnalsError) || !(err.code === 'ANNALS_LOCKED' || deniedByTheSystem(err)) || options.exclusive) throw err
      held = err
    }
    // another process holds the folder (or this one may not open it: then it must be a client)
    const record = readOwner(dir)
    if (record === undefined && held.code !== 'ANNALS_LOCKED') throw held
    if (record !== undefined && record.socket === undefined && alive(record.pid)) {
      throw new AnnalsError('ANNALS_LOCKED', `The database at ${dir} is open in another process (pid ${record.pid}) that admits no clients (exclusive)`)
    }
    if (record?.socket !== undefined && record.token !== undefined) {
      try {
        return await client(dir, record.socket, record.token, options)
      } catch (err) {
        // refused: a wrong master key, or a token refused twice, is no use trying again; a token
        // read just before a new owner wrote its own is
        if (err instanceof AnnalsError && (err.code !== 'ANNALS_ACCESS_DENIED' || refused === record.token)) throw err
        if (err instanceof AnnalsError) refused = record.token
        // else no one listens there: an owner starting, leaving, or gone
      }
    }
    if (Date.now() > deadline) {
      throw first
        ? new AnnalsError('ANNALS_LOCKED', `The database at ${dir} is open in another process, which does not admit clients`, { cause: held })
        : new AnnalsError('ANNALS_OWNER_LOST', `The process that owned the database at ${dir} went away, and no other took its place in time`, { cause: held })
    }
    await new Promise(resolve => setTimeout(resolve, pause * (0.5 + Math.random())))
    pause = Math.min(pause * 2, MAX_PAUSE)
  }
}

/** A failure to open that says this process may not open the folder's files. */
function deniedByTheSystem (err: AnnalsError): boolean {
  if (err.code !== 'ANNALS_STORAGE') return false
  for (let e: unknown = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const { code, message } = e as { code?: string, message?: string }
    if (code === 'EACCES' || code === 'EPERM' || /permission denied/i.test(message ?? '')) return true
  }
  return false
}

async function own (dir: string, options: FolderOptions): Promise<Attached> {
  const level = await LevelBackend.openPath(dir, { sync: options.sync ?? false })
  // the folder's key store: checked now if it exists or a master key is given, else made on
  // first use, so that databases without personal data never grow a keys folder
  const ownStore = options.keyStore === undefined
    ? new LevelKeyStore(join(dir, 'keys'), options.masterKey === undefined ? {} : { masterKey: options.masterKey })
    : undefined
  try {
    if (ownStore !== undefined && (options.masterKey !== undefined || existsSync(ownStore.location))) await ownStore.verify()
    return await FolderOwner.start(dir, level, options.keyStore ?? ownStore, ownStore, options.masterKey, options.exclusive)
  } catch (err) {
    await ownStore?.close()
    await level.close()
    throw err
  }
}

async function client (dir: string, socket: string, token: string, options: FolderOptions): Promise<Attached> {
  const { connection, welcome } = await Connection.open(socket, token, options.masterKey)
  const backend = new ClientBackend(connection, welcome, dir, options.sync)
  return backend as ClientBackend & Attached
}
