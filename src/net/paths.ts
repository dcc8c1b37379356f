// Where an owner and its clients meet: the Unix domain socket the owner listens on, and the
// file in the database folder that says where it is.
//
// The socket lives under the OS temporary folder, in a folder of the user's own (0700: no other
// user can even connect), named by a hash of the database folder's real path: short enough for
// the ~100-byte limit of socket paths, however deep the database folder is. The owner file
// (`annals.owner`, 0600) holds the socket's path, the owner's pid and a random token; a client
// must read it, so must be able to read the folder, and presents the token.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, chmodSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { AnnalsError } from '../errors.js'

/** The name of the owner file in a database folder. */
export const OWNER_FILE = 'annals.owner'
const OWNER_TMP = 'annals.owner.tmp'

/** Longest socket path we make (Linux allows 107 bytes, macOS 103). */
const MAX_SOCKET_PATH = 100

/** What the owner file says. */
export interface OwnerRecord {
  pid: number
  /** the socket clients connect to; absent for an owner opened with `exclusive: true` */
  socket?: string
  /** what a client presents to prove it could read the folder */
  token?: string
}

/** The real path of a database folder (resolved, symbolic links followed where it exists). */
export function realFolder (dir: string): string {
  const full = resolve(dir)
  try {
    return realpathSync(full)
  } catch {
    return full
  }
}

/** The socket path for a database folder: in a 0700 folder of this user's, under the OS temporary folder. */
export function socketPath (dir: string): string {
  const name = `${createHash('sha256').update(realFolder(dir)).digest('hex').slice(0, 24)}.sock`
  const user = `annals-${process.getuid?.() ?? 'user'}`
  let base = tmpdir()
  if (Buffer.byteLength(join(base, user, name)) > MAX_SOCKET_PATH) base = '/tmp'
  const folder = join(base, user)
  privateFolder(folder)
  return join(folder, name)
}

/**
 * Makes `folder` a folder of this user's that no one else may enter (0700), or checks that it
 * is one: a folder someone else made in a shared temporary folder is refused.
 */
function privateFolder (folder: string): void {
  try {
    mkdirSync(folder, { mode: 0o700 })
    return
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new AnnalsError('ANNALS_STORAGE', `Cannot make the socket folder ${folder}: ${(err as Error).message}`, { cause: err })
  }
  const stat = lstatSync(folder)
  const uid = process.getuid?.()
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new AnnalsError('ANNALS_ACCESS_DENIED', `The socket folder ${folder} is not a folder of this user's: remove it, or set TMPDIR elsewhere`)
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(folder, 0o700)
}

/** A new random token. */
export function newToken (): string {
  return randomBytes(32).toString('base64url')
}

/** Writes the owner file (0600), whole or not at all. Only the holder of the folder's lock calls it. */
export function writeOwner (dir: string, record: OwnerRecord): void {
  const tmp = join(dir, OWNER_TMP)
  rmSync(tmp, { force: true }) // a leftover may have other permissions
  writeFileSync(tmp, JSON.stringify(record), { mode: 0o600, flag: 'wx' })
  renameSync(tmp, join(dir, OWNER_FILE))
}

/** Removes the owner file, if this process wrote it. */
export function removeOwner (dir: string): void {
  const path = join(dir, OWNER_FILE)
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as OwnerRecord
    if (record.pid === process.pid) rmSync(path, { force: true })
  } catch {
    // gone already, or not ours to remove
  }
}

/**
 * What the owner file says, or undefined when there is none (or it is being replaced, or this
 * user cannot look into the folder at all). `ANNALS_ACCESS_DENIED` when it is there and this
 * user may not read it: a process of another user.
 */
export function readOwner (dir: string): OwnerRecord | undefined {
  const path = join(dir, OWNER_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'EACCES' || code === 'EPERM') {
      // a folder this user cannot even look into says nothing of another process: the caller's
      // own failure to open it is the answer
      if (!visible(path)) return undefined
      throw new AnnalsError('ANNALS_ACCESS_DENIED', `The database at ${dir} is open in another process, and this user may not read its owner file: only the user that owns the database may use it`, { cause: err })
    }
    throw new AnnalsError('ANNALS_STORAGE', `Cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const record = JSON.parse(text) as OwnerRecord
    return typeof record.pid === 'number' ? record : undefined
  } catch {
    return undefined // written as we read it: try again
  }
}

/** Whether this user can see that a file is there (stat it), though maybe not read it. */
function visible (path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/** Whether a process with that pid is alive (or alive under another user). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes a socket file left by an owner that is gone. */
export function removeStaleSocket (path: string): void {
  if (existsSync(path)) rmSync(path, { force: true })
}
