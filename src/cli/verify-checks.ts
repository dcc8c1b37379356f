// The checks of `annals verify`, on the raw storage (not through open(), which a damaged log
// can stop): every record decodes, positions run from 0 without gaps, commit times never
// decrease, the stream index and the log agree both ways, id index entries point at their
// events, and no checkpoint is ahead of the log. Memory stays flat: one bit per indexed event
// (to find events no stream's index covers), and the streams of the records after the index
// marker (a few thousand events' worth at most). Snapshots are checked to be of revisions their
// streams have; what they hold is a cache, which loads check as they use it.
import { parseSnapshotKey } from '../aggregates/snapshot-keys.js'
import { AnnalsError } from '../errors.js'
import { decodeRecord } from '../log/record.js'
import { INDEXED_KEY, decodeBlock } from '../log/stream-index.js'
import type { RecordedEvent } from '../log/types.js'
import { decode } from '../storage/codec.js'
import {
  Space, logKey, logKeyPosition, namedKey, prefixRange, parseStreamKey, readU64, spaceEnd, spaceStart, streamBounds
} from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { storedProjections } from './projection-records.js'
import { chunksOf } from './scan.js'

/** Something wrong, with the position it concerns where there is one. */
export interface Problem {
  check: Check
  position?: number
  message: string
}

/** The checks of a report, each problem named by one. */
export type Check = 'format' | 'records' | 'times' | 'streams' | 'ids' | 'checkpoints' | 'snapshots'

/** What verify found. */
export interface Report {
  /** positions 0 to events - 1 */
  events: number
  streams: number
  /** the last position the stream index on disk covers */
  indexedUpTo: number
  idEntries: number
  checkpoints: number
  snapshots: number
  /** subjects whose shred was interrupted: the next open finishes it (not a problem) */
  pendingShreds: number
  problems: Problem[]
  /** problems found beyond those listed */
  more: number
}

/** Most problems listed; the others are counted. */
const MAX_PROBLEMS = 100
const CHUNK = 1024

/** Runs every check; `progress` is told how far it got, of `2 * events` steps. */
export async function verifyStorage (storage: Storage, onProgress: (done: number, total: number) => void): Promise<Report> {
  const v = new Verifier(storage, onProgress)
  return await v.run()
}

class Verifier {
  readonly #storage: Storage
  readonly #progress: (done: number, total: number) => void
  readonly report: Report = { events: 0, streams: 0, indexedUpTo: -1, idEntries: 0, checkpoints: 0, snapshots: 0, pendingShreds: 0, problems: [], more: 0 }
  #head = -1
  #total = 0
  /** streams of the events after the index marker: their next revision */
  readonly #tail = new Map<string, number>()

  constructor (storage: Storage, onProgress: (done: number, total: number) => void) {
    this.#storage = storage
    this.#progress = onProgress
  }

  async run (): Promise<Report> {
    const last = await this.#storage.firstKey({ gte: spaceStart(Space.log), lt: spaceEnd(Space.log), reverse: true })
    this.#head = last === undefined ? -1 : logKeyPosition(last) ?? -1
    this.#total = 2 * (this.#head + 1)
    await this.#format()
    await this.#marker()
    await this.#records()
    await this.#streams()
    await this.#ids()
    await this.#checkpoints()
    await this.#projections()
    await this.#snapshots()
    await this.#shreds()
    return this.report
  }

  #problem (check: Check, message: string, position?: number): void {
    if (this.report.problems.length >= MAX_PROBLEMS) {
      this.report.more++
      return
    }
    this.report.problems.push(position === undefined ? { check, message } : { check, position, message })
  }

  async #format (): Promise<void> {
    const stored = await this.#storage.get(namedKey(Space.meta, 'format'))
    if (stored === undefined) {
      if (this.#head >= 0) this.#problem('format', 'The database has events but no format marker')
      return
    }
    let format: unknown
    try {
      format = decode(stored)
    } catch {
      format = undefined
    }
    if (format !== 1) this.#problem('format', `The format marker says ${String(format)}; this annals reads format 1`)
  }

  async #marker (): Promise<void> {
    const marker = await this.#storage.get(INDEXED_KEY)
    const indexed = marker === undefined ? -1 : marker.length === 8 ? readU64(marker, 0) : undefined
    if (indexed === undefined) {
      this.#problem('streams', 'The stream index marker is malformed')
    } else if (indexed > this.#head) {
      this.#problem('streams', `The stream index marker says it covers up to position ${indexed}, past the last record (${this.#head})`, this.#head + 1)
      this.report.indexedUpTo = this.#head
    } else {
      this.report.indexedUpTo = indexed
    }
  }

  /** Every record in position order: decodes, no gaps, times never decrease; events after the marker continue their streams. */
  async #records (): Promise<void> {
    const indexed = this.report.indexedUpTo
    const tail = this.#tail
    let newStreams = 0
    let expected = 0
    let time = -Infinity
    for await (const entries of chunksOf(this.#storage.entries({ gte: spaceStart(Space.log), lt: spaceEnd(Space.log) }), CHUNK)) {
      for (const [key, value] of entries) {
        const position = logKeyPosition(key)
        if (position === undefined) {
          this.#problem('records', `A key of the log is malformed (${key.toString('hex')})`)
          continue
        }
        if (position !== expected) {
          const missing = position - expected
          this.#problem('records', `Position ${expected}${missing > 1 ? ` to ${position - 1}` : ''} ${missing > 1 ? 'are' : 'is'} missing: the log jumps to ${position}`, expected)
        }
        expected = position + 1
        let event: RecordedEvent
        try {
          event = decodeRecord(position, value)
        } catch (err) {
          this.#problem('records', `The record at position ${position} does not decode${causeOf(err)}`, position)
          continue
        }
        if (event.time < time) {
          this.#problem('times', `The commit time goes back at position ${position}: ${new Date(event.time).toISOString()}, after ${new Date(time).toISOString()}`, position)
        }
        time = event.time
        if (position > indexed) {
          let next = tail.get(event.stream)
          if (next === undefined) {
            next = await this.#diskRevision(event.stream) + 1
            if (next === 0) newStreams++
          }
          if (event.revision !== next) {
            this.#problem('streams', `Position ${position} holds revision ${event.revision} of stream '${event.stream}', whose next revision is ${next}`, position)
          }
          tail.set(event.stream, event.revision + 1)
        }
      }
      this.#progress(Math.min(expected, this.#head + 1), this.#total)
    }
    this.report.events = this.#head + 1
    this.report.streams = newStreams
  }

  /** The last revision of a stream in the index on disk, or -1. */
  async #diskRevision (stream: string): Promise<number> {
    const entry = await this.#storage.firstEntry({ ...streamBounds(stream), reverse: true })
    if (entry === undefined) return -1
    const parsed = parseStreamKey(entry[0])
    const runs = parsed === undefined ? undefined : decodeBlock(parsed.revision, entry[1])
    if (runs === undefined) return -1 // reported by the index pass
    const last = runs.at(-1)!
    return last.revision + last.count - 1
  }

  /**
   * The stream index: blocks decode, each stream's revisions run from 0 without gaps at
   * increasing positions, each indexed position holds that revision of that stream, and each
   * position up to the marker is indexed exactly once.
   */
  async #streams (): Promise<void> {
    const indexed = this.report.indexedUpTo
    const covered = new Uint8Array(Math.ceil((indexed + 1) / 8))
    let streams = 0
    let current: { stream: string, next: number, position: number } | undefined
    let pending: Array<{ stream: string, revision: number, position: number }> = []
    let done = 0
    const checkPending = async (): Promise<void> => {
      const values = await this.#storage.getMany(pending.map(p => logKey(p.position)))
      pending.forEach((p, i) => {
        const bytes = values[i]
        if (bytes === undefined) {
          this.#problem('streams', `The index of stream '${p.stream}' puts revision ${p.revision} at position ${p.position}, which is missing`, p.position)
          return
        }
        let event: RecordedEvent
        try {
          event = decodeRecord(p.position, bytes)
        } catch {
          return // reported by the record pass
        }
        if (event.stream !== p.stream || event.revision !== p.revision) {
          this.#problem('streams', `The index of stream '${p.stream}' puts revision ${p.revision} at position ${p.position}, which holds revision ${event.revision} of '${event.stream}'`, p.position)
        }
      })
      done += pending.length
      this.#progress(this.#head + 1 + done, this.#total)
      pending = []
    }
    for await (const entries of chunksOf(this.#storage.entries({ gte: spaceStart(Space.streams), lt: spaceEnd(Space.streams) }), CHUNK)) {
      for (const [key, value] of entries) {
        const parsed = parseStreamKey(key)
        if (parsed === undefined) {
          this.#problem('streams', `A key of the stream index is malformed (${key.toString('hex')})`)
          continue
        }
        const { stream, revision } = parsed
        if (current?.stream !== stream) {
          streams++
          current = { stream, next: 0, position: -1 }
        }
        const runs = decodeBlock(revision, value)
        if (runs === undefined) {
          this.#problem('streams', `The index block of stream '${stream}' from revision ${revision} is malformed`)
          continue
        }
        if (revision !== current.next) {
          this.#problem('streams', `The index of stream '${stream}' has a block from revision ${revision} where revision ${current.next} was expected`, runs[0]!.position)
        }
        for (const run of runs) {
          if (run.position <= current.position) {
            this.#problem('streams', `The index of stream '${stream}' puts revision ${run.revision} at position ${run.position}, before revision ${run.revision - 1}`, run.position)
          }
          for (let i = 0; i < run.count; i++) {
            const position = run.position + i
            if (position > indexed) {
              this.#problem('streams', `The index of stream '${stream}' covers position ${position}, past its marker (${indexed})`, position)
              continue
            }
            const bit = 1 << (position & 7)
            if ((covered[position >> 3]! & bit) !== 0) {
              this.#problem('streams', `Position ${position} is in the index twice (again as revision ${run.revision + i} of '${stream}')`, position)
            }
            covered[position >> 3]! |= bit
            pending.push({ stream, revision: run.revision + i, position })
            if (pending.length >= CHUNK) await checkPending()
          }
          current.position = run.position + run.count - 1
        }
        current.next = revision + runs.reduce((n, run) => n + run.count, 0)
      }
    }
    await checkPending()
    for (let position = 0; position <= indexed; position++) {
      if ((covered[position >> 3]! & 1 << (position & 7)) === 0) {
        this.#problem('streams', `Position ${position} is in no stream's index`, position)
      }
    }
    // streams only in the records after the marker were counted by the record pass
    this.report.streams += streams
  }

  /** Id index entries: each points at an event with that id. */
  async #ids (): Promise<void> {
    for await (const entries of chunksOf(this.#storage.entries({ gte: spaceStart(Space.ids), lt: spaceEnd(Space.ids) }), CHUNK)) {
      this.report.idEntries += entries.length
      const targets = entries.map(([key, value]) => ({ id: key.subarray(1).toString('utf8'), position: value.length === 8 ? readU64(value, 0) : undefined }))
      const records = await this.#storage.getMany(targets.map(t => logKey(t.position ?? 0)))
      targets.forEach((t, i) => {
        if (t.position === undefined) {
          this.#problem('ids', `The id index entry of '${t.id}' is malformed`)
          return
        }
        const bytes = records[i]
        let id: string | undefined
        try {
          id = bytes === undefined ? undefined : decodeRecord(t.position, bytes).id
        } catch {
          return // reported by the record pass
        }
        if (id !== t.id) {
          this.#problem('ids', `The id index points '${t.id}' at position ${t.position}, which ${id === undefined ? 'is missing' : `holds the event '${id}'`}`, t.position)
        }
      })
    }
  }

  /** Durable subscriptions' checkpoints (the next position each will handle) are not past the log. */
  async #checkpoints (): Promise<void> {
    for await (const entries of chunksOf(this.#storage.entries({ gte: spaceStart(Space.subscriptions), lt: spaceEnd(Space.subscriptions) }), CHUNK)) {
      for (const [key, value] of entries) {
        this.report.checkpoints++
        const name = key.subarray(1).toString('utf8')
        const next = value.length === 8 ? readU64(value, 0) : undefined
        if (next === undefined) this.#problem('checkpoints', `The checkpoint of subscription '${name}' is malformed`)
        else if (next > this.#head + 1) {
          this.#problem('checkpoints', `The checkpoint of subscription '${name}' is at position ${next}, past the end of the log (${this.#head + 1})`, next)
        }
      }
    }
  }

  /** Projections' checkpoints (the next position each will handle) decode and are not past the log. */
  async #projections (): Promise<void> {
    const end = this.#head + 1
    const records = storedProjections(this.#storage, (_, err) => { this.#problem('checkpoints', (err as Error).message) })
    for await (const { name, active, building } of records) {
      for (const record of [active, building]) {
        if (record === undefined) continue
        this.report.checkpoints++
        if (record.next > end) {
          this.#problem('checkpoints', `The checkpoint of projection '${name}'${record === building ? ' (being rebuilt)' : ''} is at position ${record.next}, past the end of the log (${end})`, record.next)
        }
      }
    }
  }

  /** Snapshots: keys that parse, each at a revision its stream has. */
  async #snapshots (): Promise<void> {
    let stream: string | undefined
    let last = -1
    for await (const keys of chunksOf(this.#storage.keys({ gte: spaceStart(Space.snapshots), lt: spaceEnd(Space.snapshots) }), CHUNK)) {
      for (const key of keys) {
        this.report.snapshots++
        const parsed = parseSnapshotKey(key)
        if (parsed === undefined) {
          this.#problem('snapshots', `A snapshot key is malformed (${key.toString('hex')})`)
          continue
        }
        if (parsed.stream !== stream) {
          stream = parsed.stream
          last = (this.#tail.get(stream) ?? await this.#diskRevision(stream) + 1) - 1
        }
        if (parsed.revision > last) {
          this.#problem('snapshots', `A snapshot of aggregate '${parsed.name}' for stream '${stream}' is at revision ${parsed.revision}, past the stream's last revision (${last})`)
        }
      }
    }
  }

  async #shreds (): Promise<void> {
    for await (const keys of chunksOf(this.#storage.keys(prefixRange(namedKey(Space.privacy, 'intent/'))), CHUNK)) this.report.pendingShreds += keys.length
  }
}

function causeOf (err: unknown): string {
  const cause = err instanceof AnnalsError ? (err.cause as Error | undefined)?.message : (err as Error)?.message
  return cause === undefined ? '' : ` (${cause})`
}
