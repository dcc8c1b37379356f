// Corruption trials (test/faults-corrupt-*.test.ts): a source database built once per test file,
// copied per trial, damaged on the copy; then every read must return exactly the original events
// or reject with ANNALS_CORRUPT, and `annals verify` must report every damage that changed data.
// Only the public API, the `annals` command and LevelDB's own files are used.
import { spawn, type ChildProcess } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { serialize } from 'node:v8'
import { ClassicLevel } from 'classic-level'
import { defineAggregate, open, type Annals, type RecordedEvent } from '../../src/index.js'
import { collect } from './backends.js'
import { annals } from './cli.js'
import { below, digestOf, random } from './faults.js'

const TYPES = ['Deposited', 'Withdrawn', 'Renamed', 'Noted', 'Attached']
const WORDS = ['ledger', 'ünïcødé', '✓', '日本語', 'naïve', 'x', 'the', 'quick', '🦊', 'zebra', '']

/** Data of many shapes and sizes, from a few bytes to a few KiB. */
function dataFor (rng: () => number, n: number): Record<string, unknown> {
  const text = (words: number): string => Array.from({ length: words }, () => WORDS[below(rng, WORDS.length)]).join(' ')
  switch (n % 6) {
    case 0: return { amount: Math.round(rng() * 1e8) / 100, currency: 'EUR', n }
    case 1: return { text: text(below(rng, 300)), n }
    case 2: return { list: Array.from({ length: below(rng, 40) }, () => below(rng, 1e6)), nested: { a: { b: { c: [true, null, -1.5, text(3)] } } }, n }
    case 3: return { flag: rng() < 0.5, negative: -below(rng, 1e9), big: Number.MAX_SAFE_INTEGER - below(rng, 1000), float: rng(), n }
    case 4: return { blob: Buffer.from(Array.from({ length: 100 + below(rng, 3000) }, () => below(rng, 256))).toString('base64'), n }
    default: return { empty: {}, emptyList: [], name: text(2), n }
  }
}

/** How the source database keeps its events on disk. */
export type Layout =
  /** everything in the write-ahead log (never compacted) */
  | 'log'
  /** two thirds in a table file (compacted by a reopen), the rest in the write-ahead log */
  | 'tables-and-log'

async function appendEvents (db: Annals, rng: () => number, from: number, to: number, streams: number): Promise<void> {
  for (let n = from; n < to;) {
    const stream = `stream-${below(rng, streams)}`
    const size = Math.min(1 + below(rng, 4), to - n)
    const events = Array.from({ length: size }, (_, k) => ({
      id: `e-${n + k}`,
      type: TYPES[below(rng, TYPES.length)]!,
      data: dataFor(rng, n + k),
      ...(rng() < 0.4 ? { metadata: { correlation: `c-${below(rng, 100)}`, by: text(rng) } } : {})
    }))
    await db.append(stream, events)
    n += size
  }
}

function text (rng: () => number): string {
  return WORDS[below(rng, WORDS.length)]!
}

/**
 * Builds a closed database of `events` events in `streams` streams at `path`; resolves with
 * the events as read back before any damage.
 */
export async function buildSource (path: string, layout: Layout, events = 3000, streams = 30): Promise<RecordedEvent[]> {
  const rng = random(20260412)
  let db = await open(path)
  if (layout === 'tables-and-log') {
    const first = Math.floor(events * 2 / 3)
    await appendEvents(db, rng, 0, first, streams)
    await db.close()
    // LevelDB writes what its log holds to a table when it opens
    const level = new ClassicLevel(path)
    await level.open()
    await level.close()
    db = await open(path)
    await appendEvents(db, rng, first, events, streams)
  } else {
    await appendEvents(db, rng, 0, events, streams)
  }
  // read by the instance that wrote them: a reopen would move the log into a table
  try {
    return await collect(db.readAll())
  } finally {
    await db.close()
  }
}

/** The fields a read must return exactly. */
function fields (e: RecordedEvent): unknown {
  return { id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, data: e.data, metadata: e.metadata, time: e.time }
}

function describe (e: RecordedEvent | undefined): string {
  return e === undefined ? 'nothing' : `${e.id} (${e.stream}@${e.revision}, position ${e.position})`
}

/**
 * Reads `read` to its end: the events must be exactly `expected`, or a correct prefix of it
 * followed by a rejection with ANNALS_CORRUPT. Returns what went wrong, `corrupt` for a
 * rejection with ANNALS_CORRUPT, or undefined when it read everything right.
 */
async function checkRead (what: string, read: AsyncIterable<RecordedEvent>, expected: RecordedEvent[]): Promise<string | 'corrupt' | undefined> {
  let i = 0
  try {
    for await (const e of read) {
      const want = expected[i]
      if (want === undefined) return `${what} returned more events than there are: ${describe(e)}`
      if (!isDeepStrictEqual(fields(e), fields(want))) {
        return e.id === want.id && e.position === want.position
          ? `${what} returned ${describe(e)} with altered content`
          : `${what} returned ${describe(e)} where ${describe(want)} is (skipped or altered)`
      }
      i++
    }
  } catch (err) {
    const code = (err as { code?: string }).code
    return code === 'ANNALS_CORRUPT' ? 'corrupt' : `${what} rejected with ${String(code)} (not ANNALS_CORRUPT) after ${i} events: ${(err as Error).message}`
  }
  return i === expected.length ? undefined : `${what} returned ${i} of ${expected.length} events without an error (next: ${describe(expected[i])})`
}

interface Trail {
  events: unknown[]
}

const Trail = defineAggregate<Trail>({
  name: 'trail',
  initial: () => ({ events: [] }),
  evolve: (state, event) => ({ events: [...state.events, { id: event.id, stream: event.stream, revision: event.revision, position: event.position, type: event.type, data: event.data, metadata: event.metadata, time: event.time }] })
})

/** What went wrong with one read of {@link checkReads}, told as it goes: a rejection with ANNALS_CORRUPT, or a problem. */
export type Result = { corrupt: true } | { problem: string }

/** How a damaged copy fared. */
export interface Outcome {
  /** what was wrong: reads that lied, errors other than ANNALS_CORRUPT */
  problems: string[]
  /** how many reads rejected with ANNALS_CORRUPT (open counts as one) */
  corrupt: number
}

/**
 * Opens the damaged database at `path` and reads everything every way: readAll forwards and
 * backwards, readStream of every stream, and `load` of an aggregate folding each stream.
 * Tells `told` of each read that rejected with ANNALS_CORRUPT or went wrong, as it goes (a
 * process that LevelDB ends has told what came before).
 */
export async function checkReads (path: string, originals: RecordedEvent[], told: (result: Result) => void): Promise<void> {
  const note = (result: string | undefined): void => {
    if (result !== undefined) told(result === 'corrupt' ? { corrupt: true } : { problem: result })
  }
  let db: Annals
  try {
    db = await open(path)
  } catch (err) {
    const code = (err as { code?: string }).code
    note(code === 'ANNALS_CORRUPT' ? 'corrupt' : `open rejected with ${String(code)} (not ANNALS_CORRUPT): ${(err as Error).message}`)
    return
  }
  try {
    note(await checkRead('readAll', db.readAll(), originals))
    note(await checkRead('readAll backwards', db.readAll({ backwards: true }), [...originals].reverse()))
    const streams = [...new Set(originals.map(e => e.stream))].sort()
    for (const stream of streams) {
      note(await checkRead(`readStream(${stream})`, db.readStream(stream), originals.filter(e => e.stream === stream)))
    }
    for (const stream of streams) {
      const expected = originals.filter(e => e.stream === stream)
      try {
        const loaded = await db.load(Trail, stream)
        const last = expected.at(-1)!
        note(!isDeepStrictEqual(loaded.state.events, expected.map(fields)) || loaded.revision !== last.revision || loaded.position !== last.position
          ? `load(${stream}) folded ${loaded.state.events.length} events to revision ${loaded.revision}, not the ${expected.length} stored (or their content differs)`
          : undefined)
      } catch (err) {
        const code = (err as { code?: string }).code
        note(code === 'ANNALS_CORRUPT' ? 'corrupt' : `load(${stream}) rejected with ${String(code)} (not ANNALS_CORRUPT): ${(err as Error).message}`)
      }
    }
  } finally {
    await db.close().catch(() => {})
  }
}

/** One trial's verdict, for the assertion message. */
export interface Trial {
  /** problems of the reads, and of verify when the damage changed data */
  problems: string[]
  /** whether the damage changed what LevelDB holds (keys and values) */
  changed: boolean
  /** the exit code of `annals verify`, run when the data changed */
  verify: number | undefined
  /** how many reads (open included) rejected with ANNALS_CORRUPT */
  detected: number
  /**
   * The parts of the trial that LevelDB's own assertion ended (SIGABRT): a damaged block of a
   * table file, which classic-level reads without LevelDB's block checksums, can reach one. The
   * process stops; what the reads returned before it is checked all the same.
   */
  aborted: string[]
}

/** LevelDB's own assertion failing: it ends the process. */
const LEVELDB_ASSERTION = /leveldb.*Assertion `.*' failed/

/** tap's TypeScript loader, for damage-child.ts. */
const TS_LOADER = process.execArgv.filter(arg => arg.includes('@tapjs/typescript'))
const CHILD = fileURLToPath(new URL('damage-child.ts', import.meta.url))

/** A process of damage-child.ts, reused from task to task (loading TypeScript takes seconds) until LevelDB's assertion ends it. */
class Child {
  readonly #process: ChildProcess
  readonly #exited: Promise<void>
  #stderr = ''
  #lines: unknown[] = []
  #line?: () => void
  #buffer = ''

  constructor () {
    if (TS_LOADER.length === 0) throw new Error('damage.ts runs its children with tap\'s TypeScript loader: run the test with tap')
    this.#process = spawn(process.execPath, [...TS_LOADER, CHILD], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#process.stdout!.setEncoding('utf8').on('data', (text: string) => {
      const parts = (this.#buffer + text).split('\n')
      this.#buffer = parts.pop()!
      for (const part of parts) this.#lines.push(JSON.parse(part))
      this.#line?.()
    })
    this.#process.stderr!.setEncoding('utf8').on('data', (text: string) => { this.#stderr += text })
    this.#exited = new Promise(resolve => this.#process.once('close', () => { resolve(); this.#line?.() }))
  }

  get alive (): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null
  }

  /** Runs one task; resolves with the lines it wrote and whether LevelDB's assertion ended the process. */
  async run (task: string[]): Promise<{ lines: unknown[], aborted: boolean }> {
    this.#lines = []
    this.#process.stdin!.write(`${JSON.stringify(task)}\n`)
    for (;;) {
      const end = this.#lines.findIndex(line => (line as { end?: boolean }).end === true)
      if (end >= 0) return { lines: this.#lines.slice(0, end), aborted: false }
      if (!this.alive) {
        await this.#exited
        if (this.#process.signalCode === 'SIGABRT' && LEVELDB_ASSERTION.test(this.#stderr)) return { lines: this.#lines, aborted: true }
        throw new Error(`damage-child.ts ${task[0]!} failed: ${this.#stderr.trim().split('\n').slice(-3).join(' | ')}`)
      }
      await new Promise<void>(resolve => { this.#line = resolve })
    }
  }

  close (): void {
    this.#process.stdin!.end()
  }
}

const idle: Child[] = []
/** false once {@link endChildren} ran: a child that finishes a task after it ends too */
let pooling = true

/** Runs a task of damage-child.ts in an idle child (or a new one). */
async function inChild (task: string[]): Promise<{ lines: unknown[], aborted: boolean }> {
  const child = idle.pop() ?? new Child()
  try {
    return await child.run(task)
  } finally {
    if (child.alive && pooling) idle.push(child)
    else if (child.alive) child.close()
  }
}

/**
 * Ends the children of the trials; the test calls it once they are over, or once one failed
 * (those still busy end with their task: nothing is left to keep the test's process alive).
 */
export function endChildren (): void {
  pooling = false
  for (const child of idle.splice(0)) child.close()
}

/** The outcome of {@link checkReads} on `path`, run in a process of its own; `aborted` when LevelDB's assertion ended it. */
async function readsInChild (path: string, originals: string): Promise<Outcome & { aborted: boolean }> {
  const { lines, aborted } = await inChild(['reads', path, originals])
  const results = lines as Result[]
  return { problems: results.flatMap(r => 'problem' in r ? [r.problem] : []), corrupt: results.filter(r => 'corrupt' in r).length, aborted }
}

/**
 * Copies `source` to a fresh folder under `work`, damages the copy with `damage`, and checks
 * it: the reads on the damaged copy; at the same time, on a second copy, whether the damage
 * changed the data (LevelDB's keys and values against the source's `digest`, see faults.ts
 * digestOf), and if it did, `annals verify`. (The digest opens the second copy first, which
 * recovers LevelDB's log just as verify's own open would: the same data, and the same damage.)
 * The reads and the digest run in processes of their own, as verify does, so that LevelDB's
 * assertion ending one is seen (`aborted`). `originals` is the file the events were written to
 * ({@link saveOriginals}). Removes the copies; with FAULTS_KEEP=<folder>, a failing trial's
 * damaged copy, as it was before anything opened it, is kept there as `<name>` (a seed replays
 * the same damage spots, but not the same bytes: commit times differ from run to run).
 */
export async function trial (source: string, digest: string, originals: string, work: string, name: string, damage: (copy: string) => void): Promise<Trial> {
  mkdirSync(work, { recursive: true })
  const copy = join(work, 'db')
  const second = join(work, 'verify')
  const pristine = join(work, 'pristine')
  const keep = process.env.FAULTS_KEEP
  try {
    cpSync(source, copy, { recursive: true })
    damage(copy)
    cpSync(copy, second, { recursive: true })
    if (keep !== undefined && keep !== '') cpSync(copy, pristine, { recursive: true })
    const aborted: string[] = []
    const verifying = (async () => {
      const read = await inChild(['digest', second])
      if (read.aborted) aborted.push('the digest of the data')
      const changed = read.aborted || (read.lines[0] as { digest: string }).digest !== digest
      return { changed, verify: changed ? await annals(['verify', second]) : undefined }
    })()
    const [reads, { changed, verify }] = await Promise.all([readsInChild(copy, originals), verifying])
    if (reads.aborted) aborted.push(`the reads, after ${reads.corrupt} rejected with ANNALS_CORRUPT`)
    const problems = [...reads.problems]
    if (verify?.signal === 'SIGABRT' && LEVELDB_ASSERTION.test(verify.stderr)) aborted.push('annals verify')
    else if (verify !== undefined && verify.code !== 1 && verify.code !== 6) {
      problems.push(`the data changed, but annals verify exited with ${verify.code} (not 1, found problems, or 6, damaged): ${(verify.stdout + verify.stderr).trim().split('\n').slice(-3).join(' | ')}`)
    }
    if (problems.length > 0 && keep !== undefined && keep !== '') {
      mkdirSync(keep, { recursive: true })
      cpSync(pristine, join(keep, name), { recursive: true })
      problems.push(`(the damaged database is kept in ${join(keep, name)})`)
    }
    return { problems, changed, verify: verify?.code, detected: reads.corrupt, aborted }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** Writes the events as read before any damage to `file`, for the trials' children. */
export function saveOriginals (events: RecordedEvent[], file: string): string {
  writeFileSync(file, serialize(events))
  return file
}

/** The digest of a database's data (a copy of it is opened, since opening writes). */
export async function sourceDigest (source: string, work: string): Promise<string> {
  const copy = join(work, 'digest')
  cpSync(source, copy, { recursive: true })
  try {
    return await digestOf(copy)
  } finally {
    rmSync(copy, { recursive: true, force: true })
  }
}

/**
 * Runs `run(0)` to `run(count - 1)`, `width` at a time (a trial spends most of its time
 * waiting for `annals verify`, a child process); resolves with the results in order.
 */
export async function inTurn<T> (count: number, width: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count)
  let next = 0
  // after a failure no lane starts another run: the test ends with the failure
  let failed = false
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count && !failed) {
      const i = next++
      try {
        results[i] = await run(i)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }))
  return results
}
