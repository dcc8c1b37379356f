// The fault-injection harness of test/faults-*.test.ts:
//   - disk full: a small tmpfs mounted by the test, filled by a filler file, freed by deleting it;
//   - I/O errors: an LD_PRELOAD shim (fixtures/faults/fail-io.c), compiled with `cc` at test time,
//     that fails writes, syncs or reads of files under a folder while a trigger file exists;
//   - corruption: single bytes flipped, 32 KiB blocks of the write-ahead log overwritten, with
//     seeded randomness.
// The appending child and the check after a reopen are in fault-child.ts, the corruption trials
// in damage.ts. Everything works through the public API, the `annals` command and LevelDB's own
// files, never annals' storage format, so the tests hold whatever that format is.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync,
  realpathSync, renameSync, rmSync, statSync, statfsSync, writeFileSync, writeSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fixtures = join(root, 'test', 'fixtures', 'faults')

/** What a test needs to register cleanup (a tap Test). */
export interface Teardown {
  teardown: (fn: () => unknown) => void
}

// ---------------------------------------------------------------------------------------------
// What the machine allows

/** Why tests that need root cannot run here, or false when they can. */
export function needsRoot (): string | false {
  return process.getuid?.() === 0 ? false : 'needs root (CI runs as root)'
}

let tmpfsReason: string | false | undefined

/** Why a tmpfs cannot be mounted here (not root, no permission in this container), or false. */
export function needsTmpfs (): string | false {
  if (tmpfsReason !== undefined) return tmpfsReason
  const notRoot = needsRoot()
  if (notRoot !== false) return (tmpfsReason = `${notRoot}: mounts a tmpfs`)
  const dir = mkdtempSync(join(tmpdir(), 'annals-tmpfs-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1M', 'tmpfs', dir], { stdio: 'pipe' })
    execFileSync('umount', [dir], { stdio: 'pipe' })
    tmpfsReason = false
  } catch (err) {
    tmpfsReason = `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()})`
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return tmpfsReason
}

let shim: { lib: string } | { reason: string } | undefined

/** Compiles the shim once per process; the path of the library, or why it cannot be built. */
function compileShim (): { lib: string } | { reason: string } {
  if (shim !== undefined) return shim
  const dir = mkdtempSync(join(tmpdir(), 'annals-fail-io-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const lib = join(dir, 'fail-io.so')
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', lib, join(fixtures, 'fail-io.c'), '-ldl', '-lpthread'], { stdio: 'pipe' })
    shim = { lib }
  } catch (err) {
    const e = err as { code?: string, stderr?: Buffer }
    shim = { reason: e.code === 'ENOENT' ? 'no C compiler (cc) to build the I/O fault shim' : `the I/O fault shim does not compile: ${String(e.stderr ?? err)}` }
  }
  return shim
}

/** Why the I/O fault shim cannot be used here (no compiler, not Linux/glibc), or false. */
export function needsShim (): string | false {
  if (process.platform !== 'linux') return 'the I/O fault shim needs Linux (LD_PRELOAD, /proc/self/fd)'
  const built = compileShim()
  return 'reason' in built ? built.reason : false
}

// ---------------------------------------------------------------------------------------------
// Disk full: a tmpfs

/** A small tmpfs, unmounted in teardown. */
export interface Tmpfs {
  /** The mount point. */
  dir: string
  /** Takes all free space with a filler file, then gives back `leave` bytes of it. */
  fill (leave?: number): void
  /** Deletes the filler file. */
  free (): void
  /** Bytes free now. */
  available (): number
}

/** Mounts a tmpfs of `mib` MiB for the test (root only: check {@link needsTmpfs} first). */
export function mountTmpfs (t: Teardown, mib: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'annals-tmpfs-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}M`, 'tmpfs', dir], { stdio: 'pipe' })
  t.teardown(() => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' })
    } catch {
      // a child still holding files open: detach now, the kernel frees it when they are closed
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
    }
    rmSync(dir, { recursive: true, force: true })
  })
  const filler = join(dir, 'filler')
  return {
    dir,
    fill (leave = 0) {
      const fd = openSync(filler, 'a')
      try {
        for (const size of [1 << 20, 1 << 16, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 0x5a)
          for (;;) {
            try {
              writeSync(fd, chunk)
            } catch (err) {
              if ((err as { code?: string }).code === 'ENOSPC') break
              throw err
            }
          }
        }
        if (leave > 0) ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leave))
      } finally {
        closeSync(fd)
      }
    },
    free () {
      rmSync(filler, { force: true })
    },
    available () {
      const s = statfsSync(dir)
      return s.bavail * s.bsize
    }
  }
}

// ---------------------------------------------------------------------------------------------
// I/O errors: the LD_PRELOAD shim

/** A fault for {@link IoFaults.inject}; see fixtures/faults/fail-io.c. */
export interface IoFault {
  errno?: 'EIO' | 'ENOSPC' | 'EACCES' | 'EROFS'
  /** Fail this many calls, then stop; default: every call until {@link IoFaults.clear}. */
  count?: number
  /** Which calls fail; default write. */
  ops?: Array<'write' | 'sync' | 'read'>
  /** Only paths containing this (`.log`: the write-ahead log, `.ldb`: tables). */
  match?: string
  /** A failing write writes half of its bytes first (default true). */
  torn?: boolean
}

/** Switches the shim's faults on and off for the processes started with {@link IoFaults.env}. */
export class IoFaults {
  readonly #prefix: string
  readonly #trigger: string
  readonly #record: string

  /** Faults for files under `folder` (which may not exist yet); the trigger lives in `control`. */
  constructor (folder: string, control: string) {
    mkdirSync(control, { recursive: true })
    // /proc/self/fd shows real paths
    this.#prefix = join(realpathSync(dirname(folder)), basename(folder))
    this.#trigger = join(control, 'trigger')
    this.#record = join(control, 'injected')
  }

  /** The environment of a child process under the shim. */
  env (): Record<string, string> {
    const built = compileShim()
    if ('reason' in built) throw new Error(built.reason)
    return { LD_PRELOAD: built.lib, FAULTS_PREFIX: this.#prefix, FAULTS_TRIGGER: this.#trigger, FAULTS_RECORD: this.#record }
  }

  /** Starts injecting `fault` (replacing any before). */
  inject (fault: IoFault): void {
    const words = [
      `errno=${fault.errno ?? 'EIO'}`, `count=${fault.count ?? -1}`, `ops=${(fault.ops ?? ['write']).join(',')}`,
      `torn=${fault.torn === false ? 0 : 1}`, ...(fault.match === undefined ? [] : [`match=${fault.match}`])
    ]
    writeFileSync(`${this.#trigger}.tmp`, words.join(' ') + '\n')
    renameSync(`${this.#trigger}.tmp`, this.#trigger)
  }

  /** Stops injecting. */
  clear (): void {
    rmSync(this.#trigger, { force: true })
  }

  /** True while the trigger is set (a counted fault deletes it once spent). */
  get armed (): boolean {
    return existsSync(this.#trigger)
  }

  /** Every fault injected so far, one `<errno> <call> <path>` each. */
  injected (): string[] {
    return existsSync(this.#record) ? readFileSync(this.#record, 'utf8').split('\n').filter(l => l !== '') : []
  }
}

// ---------------------------------------------------------------------------------------------
// Corruption of a closed database folder

/** LevelDB's write-ahead log is written in blocks of this size (log_format.h: kBlockSize). */
export const LOG_BLOCK = 32768

/** The seed of a test file's randomness: FAULTS_SEED to replay one, else a new one. */
export function seed (): number {
  const given = process.env.FAULTS_SEED
  return given !== undefined && given !== '' ? Number(given) >>> 0 : randomBytes(4).readUInt32LE(0)
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
export function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [0, n). */
export function below (rng: () => number, n: number): number {
  return Math.floor(rng() * n)
}

/** The files of the folder whose names end with `ext` (`.ldb`, `.log`), with their sizes. */
export function filesOf (dir: string, ext: string): Array<{ path: string, size: number }> {
  return readdirSync(dir).filter(name => name.endsWith(ext)).sort()
    .map(name => ({ path: join(dir, name), size: statSync(join(dir, name)).size }))
}

/** XORs the byte at `offset` of `file` with a non-zero value; returns the byte before and after. */
export function flipByte (file: string, offset: number, rng: () => number): { before: number, after: number } {
  const fd = openSync(file, 'r+')
  try {
    const b = Buffer.alloc(1)
    const read = readSync(fd, b, 0, 1, offset)
    if (read !== 1) throw new Error(`no byte at ${offset} of ${file}`)
    const before = b[0]!
    const after = before ^ (1 + below(rng, 255))
    writeSync(fd, Buffer.from([after]), 0, 1, offset)
    return { before, after }
  } finally {
    closeSync(fd)
  }
}

/** Overwrites block `block` (32 KiB) of a write-ahead log with random bytes. */
export function damageBlock (file: string, block: number, rng: () => number): void {
  const bytes = Buffer.alloc(LOG_BLOCK)
  for (let i = 0; i < bytes.length; i++) bytes[i] = below(rng, 256)
  const fd = openSync(file, 'r+')
  try {
    const size = fstatSync(fd).size
    const start = block * LOG_BLOCK
    if (start >= size) throw new Error(`${file} has no block ${block}`)
    writeSync(fd, bytes, 0, Math.min(LOG_BLOCK, size - start), start)
  } finally {
    closeSync(fd)
  }
}

/**
 * Every key and value of a LevelDB folder, hashed, read with classic-level itself (not annals):
 * two folders with the same digest hold the same data. A folder LevelDB cannot open or read
 * gives `error: ...`. Opening may write (LevelDB recovers its log), so run it on a copy.
 */
export async function digestOf (dir: string): Promise<string> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false })
  try {
    await db.open()
    const hash = createHash('sha256')
    for await (const [key, value] of db.iterator()) {
      hash.update(`${key.length}:`).update(key).update(`${value.length}:`).update(value)
    }
    return hash.digest('hex')
  } catch (err) {
    return `error: ${(err as Error).message}`
  } finally {
    await db.close().catch(() => {})
  }
}

