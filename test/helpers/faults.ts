// The fault-injection harness of test/faults-*.test.ts:
//   - disk full: a small tmpfs mounted by the test, filled by a filler file, freed by deleting it;
//   - I/O errors: an LD_PRELOAD shim (fixtures/faults/fail-io.c), compiled with `cc` at test time,
//     that fails writes, syncs or reads of files under a folder while a trigger file exists;
//   - corruption: single bytes flipped, 32 KiB blocks of the write-ahead log overwritten, with
//     seeded randomness;
//   - a child process (fixtures/faults/fault-child.mjs) that appends as told and reports each
//     acknowledged and each failed append, and a check of the database after a reopen.
// Everything here works through the public API, the `annals` command and LevelDB's own files,
// never annals' storage format, so the tests hold whatever that format is.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync,
  realpathSync, renameSync, rmSync, statSync, statfsSync, writeFileSync, writeSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { open, type RecordedEvent } from '../../src/index.js'
import { collect } from './backends.js'
import { assertBuilt } from './child.js'

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
// The appending child

/** An acknowledged append, as the child reported it. */
export interface Ack {
  id: string
  stream: string
  events: number
  revision: number
  position: number
}

/** A failed append, as the child reported it. */
export interface Fail {
  id: string
  stream: string
  events: number
  code: string | null
  message: string
}

/** What one `append` command did. */
export interface Appended {
  acks: Ack[]
  fails: Fail[]
}

/** Options of {@link FaultChild.append}. */
export interface AppendSpec {
  /** Ids are `<tag>-<i>`; tags must differ between commands. */
  tag: string
  count: number
  concurrency?: number
  /** Start no new append once this many failed (those under way finish). */
  stopAfterFailures?: number
  /** Rough size of each event's data, in bytes. */
  size?: number
}

type Reply = Record<string, unknown>

/** An error as a child reports it. */
export interface ChildError {
  code: string | null
  message: string
  /** whether it had a `cause` */
  cause?: boolean
}

/** How long a command may take before the child is killed. */
const COMMAND_TIMEOUT = 60_000

/** fixtures/faults/fault-child.mjs, driven one command at a time. */
export class FaultChild {
  /** Every append acknowledged, in the order reported. */
  readonly acks: Ack[] = []
  /** Every append that failed. */
  readonly fails: Fail[] = []
  readonly #child: ChildProcess
  readonly #exited: Promise<number | null>
  #stderr = ''
  #waiting: ((reply: Reply) => void) | undefined
  #current: Appended = { acks: [], fails: [] }

  private constructor (child: ChildProcess) {
    this.#child = child
    this.#exited = new Promise(resolve => child.once('exit', code => { resolve(code) }))
    let buffered = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        this.#line(JSON.parse(line) as Reply)
      }
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => { this.#stderr = (this.#stderr + chunk).slice(-4000) })
  }

  /**
   * Starts a child: fixtures/faults/fault-child.mjs, or `script` of that folder (level-child.mjs
   * drives raw classic-level). `env` adds to its environment (e.g. {@link IoFaults.env}), `user`
   * runs it as that uid and gid.
   */
  static start (options: { script?: string, env?: Record<string, string>, user?: { uid: number, gid: number } } = {}): FaultChild {
    assertBuilt()
    const child = spawn(process.execPath, [join(fixtures, options.script ?? 'fault-child.mjs')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...options.user
    })
    return new FaultChild(child)
  }

  /** What the child wrote on standard error lately (for failure messages). */
  get stderr (): string {
    return this.#stderr
  }

  /** Opens annals in the child: `null` when it opened, else its error. */
  async open (dir: string, sync = false): Promise<ChildError | null> {
    const reply = await this.command({ cmd: 'open', dir, sync })
    if (reply.opened === true) return null
    return reply.openError as ChildError
  }

  /** Runs appends in the child; resolves with what this command acknowledged and failed. */
  async append (spec: AppendSpec): Promise<Appended> {
    this.#current = { acks: [], fails: [] }
    await this.command({ cmd: 'append', ...spec, stopAfterFailures: spec.stopAfterFailures ?? null })
    return this.#current
  }

  /** Closes the database; resolves with the error's code, or null when close resolved. Waits for the exit. */
  async close (): Promise<ChildError | null> {
    const reply = await this.command({ cmd: 'close' })
    await this.#exited
    return reply.closed === true ? null : reply.closeError as ChildError
  }

  /** Kills the child (if still running) and waits for it. */
  async kill (): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    await this.#exited
  }

  #line (reply: Reply): void {
    if (reply.ack !== undefined) {
      this.acks.push(reply.ack as Ack)
      this.#current.acks.push(reply.ack as Ack)
    } else if (reply.fail !== undefined) {
      this.fails.push(reply.fail as Fail)
      this.#current.fails.push(reply.fail as Fail)
    } else {
      const waiting = this.#waiting
      this.#waiting = undefined
      waiting?.(reply)
    }
  }

  /** Sends one command; resolves with the child's answer (acks and fails aside). */
  async command (command: Record<string, unknown>): Promise<Reply> {
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#child.kill('SIGKILL')
        reject(new Error(`the child did not answer ${String(command.cmd)} within ${COMMAND_TIMEOUT / 1000} s (killed); stderr: ${this.#stderr}`))
      }, COMMAND_TIMEOUT)
      this.#waiting = r => { clearTimeout(timer); resolve(r) }
      void this.#exited.then(code => {
        clearTimeout(timer)
        reject(new Error(`the child exited (${String(code)}) during ${String(command.cmd)}; stderr: ${this.#stderr}`))
      })
    })
    this.#child.stdin!.write(JSON.stringify(command) + '\n')
    return await reply
  }
}

// The events the child writes (keep in step with fixtures/faults/fault-child.mjs).
function eventsOf (i: number): number {
  return i % 4 === 3 ? 3 : 1
}

function pad (id: string, size: number): string {
  let out = ''
  for (let k = 0; out.length < size; k++) out += createHash('sha256').update(`${id}#${k}`).digest('hex')
  return out.slice(0, size)
}

/** The data, metadata and type of event `k` of append `<tag>-<i>`, as the child wrote it. */
function expectedEvent (tag: string, i: number, k: number, size: number): { type: string, data: unknown, metadata: unknown } {
  const n = eventsOf(i)
  return { type: 'Written', data: { tag, i, k, pad: pad(`${tag}-${i}/${k}`, size + (i * 37) % size) }, metadata: { of: n } }
}

/** The size given to each tag's append command, for {@link checkReopened}. */
export type Sizes = Record<string, number>

function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Opens the database at `path` in this process (a fresh one: the child has exited) and checks:
 * it opens; positions run from 0 without gaps; every acknowledged append is there whole, at its
 * stream, revisions and positions, with its data; no event is there that was not acknowledged
 * (so none of a failed append); every stream reads the same through its index as in the log.
 * Returns the problems found (empty when all is well), the first 20 of each kind.
 */
export async function checkReopened (path: string, acks: Ack[], sizes: Sizes): Promise<string[]> {
  const problems: string[] = []
  let db
  try {
    db = await open(path)
  } catch (err) {
    return [`the database does not open: ${String((err as { code?: string }).code)} ${(err as Error).message}`]
  }
  try {
    let all: RecordedEvent[]
    try {
      all = await collect(db.readAll())
    } catch (err) {
      return [`readAll rejects: ${String((err as { code?: string }).code)} ${(err as Error).message}`]
    }
    const gaps: string[] = []
    all.forEach((e, i) => { if (e.position !== i) gaps.push(`position ${e.position} at index ${i}`) })
    problems.push(...limit(gaps, 'positions out of place'))
    const byId = new Map(all.map(e => [e.id, e]))
    const lost: string[] = []
    const wrong: string[] = []
    const expectedIds = new Set<string>()
    for (const a of acks) {
      const tag = a.id.slice(0, a.id.lastIndexOf('-'))
      const i = Number(a.id.slice(a.id.lastIndexOf('-') + 1))
      for (let k = 0; k < a.events; k++) {
        const id = `${a.id}/${k}`
        expectedIds.add(id)
        const e = byId.get(id)
        const position = a.position - a.events + 1 + k
        const revision = a.revision - a.events + 1 + k
        if (e === undefined) {
          lost.push(`${id} (acknowledged at ${a.stream}@${revision}, position ${position})`)
          continue
        }
        const want = expectedEvent(tag, i, k, sizes[tag] ?? 200)
        if (e.stream !== a.stream || e.position !== position || e.revision !== revision) {
          wrong.push(`${id} is at ${e.stream}@${e.revision}, position ${e.position}, acknowledged at ${a.stream}@${revision}, position ${position}`)
        } else if (e.type !== want.type || !sameJson(e.data, want.data) || !sameJson(e.metadata, want.metadata)) {
          wrong.push(`${id} reads back with other content`)
        }
      }
    }
    problems.push(...limit(lost, 'acknowledged events lost'))
    problems.push(...limit(wrong, 'acknowledged events misplaced or altered'))
    const unacknowledged = all.filter(e => !expectedIds.has(e.id)).map(e => `${e.id} at position ${e.position}`)
    problems.push(...limit(unacknowledged, 'events present that were never acknowledged (failed appends)'))
    for (const stream of new Set([...all.map(e => e.stream), ...acks.map(a => a.stream)])) {
      let read: RecordedEvent[]
      try {
        read = await collect(db.readStream(stream))
      } catch (err) {
        problems.push(`readStream(${stream}) rejects: ${String((err as { code?: string }).code)}`)
        continue
      }
      if (!sameJson(read, all.filter(e => e.stream === stream))) problems.push(`the index of ${stream} disagrees with the log`)
      if (!read.every((e, i) => e.revision === i)) problems.push(`${stream} has a revision gap`)
    }
  } finally {
    await db.close().catch((err: unknown) => { problems.push(`close after the check rejects: ${String((err as { code?: string }).code)}`) })
  }
  return problems
}

function limit (items: string[], what: string): string[] {
  if (items.length === 0) return []
  return [`${items.length} ${what}: ${items.slice(0, 20).join('; ')}${items.length > 20 ? '; ...' : ''}`]
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

