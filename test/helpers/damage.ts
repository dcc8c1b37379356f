// Corruption trials (test/faults-corrupt-*.test.ts): a source database built once per test file,
// copied per trial, damaged on the copy; then every read must return exactly the original events
// or reject with ANNALS_CORRUPT, and `annals verify` must report every damage that changed data.
// Only the public API, the `annals` command and LevelDB's own files are used.
import { cpSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
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
 */
export async function checkReads (path: string, originals: RecordedEvent[]): Promise<Outcome> {
  const problems: string[] = []
  let corrupt = 0
  let db: Annals
  try {
    db = await open(path)
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ANNALS_CORRUPT') return { problems, corrupt: 1 }
    return { problems: [`open rejected with ${String(code)} (not ANNALS_CORRUPT): ${(err as Error).message}`], corrupt }
  }
  const note = (result: string | undefined): void => {
    if (result === 'corrupt') corrupt++
    else if (result !== undefined) problems.push(result)
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
        if (!isDeepStrictEqual(loaded.state.events, expected.map(fields)) || loaded.revision !== last.revision || loaded.position !== last.position) {
          problems.push(`load(${stream}) folded ${loaded.state.events.length} events to revision ${loaded.revision}, not the ${expected.length} stored (or their content differs)`)
        }
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code !== 'ANNALS_CORRUPT') problems.push(`load(${stream}) rejected with ${String(code)} (not ANNALS_CORRUPT): ${(err as Error).message}`)
        else corrupt++
      }
    }
  } finally {
    await db.close().catch(() => {})
  }
  return { problems, corrupt }
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
}

/**
 * Copies `source` to a fresh folder under `work`, damages the copy with `damage`, and checks
 * it: the reads on the damaged copy; at the same time, on a second copy, whether the damage
 * changed the data (LevelDB's keys and values against the source's `digest`, see faults.ts
 * digestOf), and if it did, `annals verify`. (The digest opens the second copy first, which
 * recovers LevelDB's log just as verify's own open would: the same data, and the same damage.)
 * Removes the copies; with FAULTS_KEEP=<folder>, a failing trial's damaged copy, as it was
 * before anything opened it, is kept there as `<name>` (a seed replays the same damage spots,
 * but not the same bytes: commit times differ from run to run).
 */
export async function trial (source: string, digest: string, originals: RecordedEvent[], work: string, name: string, damage: (copy: string) => void): Promise<Trial> {
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
    const verifying = (async () => {
      const changed = await digestOf(second) !== digest
      return { changed, verify: changed ? await annals(['verify', second]) : undefined }
    })()
    const [reads, { changed, verify }] = await Promise.all([checkReads(copy, originals), verifying])
    const problems = [...reads.problems]
    if (verify !== undefined && verify.code !== 1 && verify.code !== 6) {
      problems.push(`the data changed, but annals verify exited with ${verify.code} (not 1, found problems, or 6, damaged): ${(verify.stdout + verify.stderr).trim().split('\n').slice(-3).join(' | ')}`)
    }
    if (problems.length > 0 && keep !== undefined && keep !== '') {
      mkdirSync(keep, { recursive: true })
      cpSync(pristine, join(keep, name), { recursive: true })
      problems.push(`(the damaged database is kept in ${join(keep, name)})`)
    }
    return { problems, changed, verify: verify?.code, detected: reads.corrupt }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
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
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) {
      const i = next++
      results[i] = await run(i)
    }
  }))
  return results
}
