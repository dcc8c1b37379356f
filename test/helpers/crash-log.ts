// What the crash tests check after a kill -9 (test/crash*.test.ts), and the tools they share:
// a seeded random source whose seed is printed, a copy of a database folder to look into without
// changing the original (an open and close of annals finishes what the original must keep
// unfinished: a tail to rebuild, a shred to recover), and the raw marker of the streams' blocks.
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync } from 'node:fs'
import { ClassicLevel } from 'classic-level'
import type { Test } from 'tap'
import { open, type Annals, type RecordedEvent } from '../../src/index.js'
import { indexedUpTo } from '../../src/backend/level/stream-index.js'
import type { Storage } from '../../src/storage/storage.js'
import { collect } from './backends.js'
import { kill, startChild } from './child.js'
import { random } from './faults.js'

/** One acknowledged append of test/fixtures/appender.mjs: its events are `${id}/0` to `${id}/${size - 1}`. */
export interface Ack { id: string, stream: string, size: number, revision: number, position: number }

/** The seed of a run (CRASH_SEED=<seed> replays its choices; the kills' timing is the system's) and its generator. */
export function seeded (): { seed: number, rng: () => number } {
  const given = process.env.CRASH_SEED
  const seed = given !== undefined && given !== '' ? Number(given) >>> 0 : randomBytes(4).readUInt32LE(0)
  return { seed, rng: random(seed) }
}

/** Waits `ms` milliseconds. */
export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Waits until `done()` holds; throws if `child` exits first (a child that failed), or after `ms`. */
export async function waitFor (child: ChildProcess, done: () => boolean, what: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms
  while (!done()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the child exited (${String(child.exitCode ?? child.signalCode)}) before ${what}`)
    if (Date.now() > until) throw new Error(`the child did not get as far as ${what} in ${ms} ms`)
    await sleep(2)
  }
}

/**
 * Reads the whole log and checks it: positions contiguous from 0, every acknowledged append there
 * exactly once where it was acknowledged, no append half there (events carry `metadata.of`, the
 * size of their append, and ids `<append>/<k>`), every stream's read equal to the log filtered
 * by that stream, revisions contiguous, `revision()` right. Returns the problems and the log.
 */
export async function checkLog (db: Annals, acked: readonly Ack[]): Promise<{ problems: string[], all: RecordedEvent[] }> {
  const all = await collect(db.readAll())
  const problems: string[] = []
  all.forEach((e, i) => { if (e.position !== i) problems.push(`position ${e.position} at index ${i}`) })
  const byId = new Map<string, RecordedEvent[]>()
  for (const e of all) byId.set(e.id, [...byId.get(e.id) ?? [], e])
  for (const [id, events] of byId) if (events.length > 1) problems.push(`${id} is in the log ${events.length} times`)
  for (const a of acked) {
    for (let k = 0; k < a.size; k++) {
      const e = byId.get(`${a.id}/${k}`)?.[0]
      const position = a.position - a.size + 1 + k
      if (e?.stream !== a.stream || e.position !== position || e.revision !== a.revision - a.size + 1 + k) {
        problems.push(`acknowledged ${a.id}/${k} is not at ${a.stream}@${position}`)
      }
    }
  }
  // no append is half there, acknowledged or not
  const groups = new Map<string, RecordedEvent[]>()
  for (const e of all) {
    const id = e.id.slice(0, e.id.lastIndexOf('/'))
    groups.set(id, [...groups.get(id) ?? [], e])
  }
  for (const [id, events] of groups) {
    if (events.length !== events[0]!.metadata.of) problems.push(`append ${id} has ${events.length} of ${String(events[0]!.metadata.of)} events`)
  }
  for (const stream of new Set(all.map(e => e.stream))) {
    const read = await collect(db.readStream(stream))
    const fromLog = all.filter(e => e.stream === stream)
    if (JSON.stringify(read) !== JSON.stringify(fromLog)) problems.push(`the index of ${stream} disagrees with the log`)
    if (!read.every((e, i) => e.revision === i)) problems.push(`${stream} has a revision gap`)
    if (await db.revision(stream) !== read.length - 1) problems.push(`revision(${stream}) is wrong`)
    const backwards = await collect(db.readStream(stream, { backwards: true }))
    if (JSON.stringify(backwards) !== JSON.stringify(fromLog.slice().reverse())) problems.push(`${stream} read backwards disagrees with the log`)
  }
  return { problems, all }
}

/** Copies a closed database folder (keys included) to `to`. */
export function copyFolder (from: string, to: string): void {
  cpSync(from, to, { recursive: true })
}

/** The last position the streams' blocks on disk cover (-1: none), read from a closed database folder. */
export async function rawIndexedUpTo (path: string): Promise<number> {
  const level = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', createIfMissing: false })
  await level.open()
  try {
    return await indexedUpTo({ get: async (key: Buffer) => await level.get(key) } as unknown as Storage)
  } finally {
    await level.close()
  }
}

/** What {@link killAppenders} reports of each kill. */
export interface Killed {
  cycle: number
  /** appends the killed child acknowledged */
  acknowledged: number
  /** events in the log after the kill */
  events: number
}

/**
 * Runs `kills` children of test/fixtures/crash-child.mjs on `path` (options by cycle), kills
 * each at a random delay after its first acknowledged append (so that every child appends,
 * however loaded the machine), and checks the log after each kill with {@link checkLog}, as
 * assertions of `t` (stopping at the first that fails). `inspect` looks at the closed database
 * after the kill, before annals opens it (given how many events the log had before the child);
 * its text goes into the assertion's message.
 */
export async function killAppenders (t: Test, path: string, o: {
  kills: number
  seed: number
  rng: () => number
  delay: () => number
  options: (cycle: number) => Record<string, unknown>
  inspect?: (path: string, eventsBefore: number) => Promise<string>
}): Promise<{ acked: Ack[], killed: Killed[] }> {
  const acked: Ack[] = []
  const killed: Killed[] = []
  const childProblems: string[] = []
  let events = 0
  for (let cycle = 0; cycle < o.kills; cycle++) {
    const before = acked.length
    const options = o.options(cycle)
    const child = await startChild('crash-child.mjs', [path, `c${cycle}`, JSON.stringify(options)], line => {
      if (line.startsWith('problem')) childProblems.push(line)
      else acked.push(JSON.parse(line) as Ack)
    })
    await waitFor(child, () => acked.length > before, 'its first acknowledged append')
    await sleep(o.delay())
    await kill(child)
    const note = o.inspect === undefined ? '' : `; ${await o.inspect(path, events)}`
    const db = await open(path)
    const { problems, all } = await checkLog(db, acked)
    await db.close()
    problems.push(...childProblems)
    killed.push({ cycle, acknowledged: acked.length - before, events: all.length })
    t.same(problems, [], `kill ${cycle + 1} (seed ${o.seed}, ${JSON.stringify(options)}): ${acked.length - before} appends acknowledged, ${all.length} events in the log${note}`)
    events = all.length
    if (problems.length > 0) break
  }
  return { acked, killed }
}
