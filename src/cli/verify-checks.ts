// The checks of `annals verify`, on the raw storage (not through open(), which a damaged log
// can stop). The backend checks the log (backend/level/verify.ts: checksums, positions without
// gaps, commit times, streams' blocks and id index against the log); here, the records of the
// layers above, through the key spaces: no checkpoint is ahead of the log, snapshots are of
// revisions their streams have (what they hold is a cache, which loads check as they use it),
// and interrupted shreds are counted. With the application's event declarations, every event
// stored at an older version of its type is upcast, as reads will (personal fields stay sealed:
// no key is needed).
import { parseSnapshotKey } from '../aggregates/snapshot-keys.js'
import { logChunks } from '../backend/level/readers.js'
import { verifyLevel, type LogReport } from '../backend/level/verify.js'
import { isAnnalsError } from '../errors.js'
import type { Upcaster } from '../log/upcast.js'
import '../privacy/sealed.js' // stored events may hold sealed fields: their decoding
import { Space, namedKey, prefixRange, readU64, spaceEnd, spaceStart } from '../storage/keys.js'
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
export type Check = 'format' | 'records' | 'times' | 'streams' | 'ids' | 'tags' | 'checkpoints' | 'snapshots' | 'upcasts'

/** What verify found. */
export interface Report {
  /** positions 0 to events - 1 */
  events: number
  streams: number
  /** the last position the streams' blocks on disk cover */
  indexedUpTo: number
  idEntries: number
  tagEntries: number
  checkpoints: number
  snapshots: number
  /** subjects whose shred was interrupted: the next open finishes it (not a problem) */
  pendingShreds: number
  /** with event declarations: how many events are stored at an older version of their type (and upcast) */
  upcast?: number
  problems: Problem[]
  /** problems found beyond those listed */
  more: number
}

/** Most problems listed; the others are counted. */
const MAX_PROBLEMS = 100
const CHUNK = 1024

/**
 * Runs every check; `progress` is told how far it got, of `2 * events` steps. With `upcaster`
 * (the application's event declarations), every event stored at an older version must upcast.
 */
export async function verifyStorage (storage: Storage, onProgress: (done: number, total: number) => void, upcaster?: Upcaster): Promise<Report> {
  const v = new Verifier(storage, onProgress)
  return await v.run(upcaster)
}

class Verifier {
  readonly #storage: Storage
  readonly #progress: (done: number, total: number) => void
  readonly report: Report = { events: 0, streams: 0, indexedUpTo: -1, idEntries: 0, tagEntries: 0, checkpoints: 0, snapshots: 0, pendingShreds: 0, problems: [], more: 0 }
  #head = -1
  #log: LogReport | undefined

  constructor (storage: Storage, onProgress: (done: number, total: number) => void) {
    this.#storage = storage
    this.#progress = onProgress
  }

  async run (upcaster: Upcaster | undefined): Promise<Report> {
    const log = this.#log = await verifyLevel(this.#storage, p => { this.#problem(p.check, p.message, p.position) }, this.#progress)
    this.#head = log.events - 1
    this.report.events = log.events
    this.report.streams = log.streams
    this.report.indexedUpTo = log.indexedUpTo
    this.report.idEntries = log.idEntries
    this.report.tagEntries = log.tagEntries
    await this.#checkpoints()
    await this.#projections()
    await this.#snapshots()
    await this.#shreds()
    if (upcaster !== undefined) await this.#upcasts(upcaster)
    return this.report
  }

  /** Every event stored at an older version of its type upcasts: its steps neither throw nor return a malformed event. */
  async #upcasts (upcaster: Upcaster): Promise<void> {
    this.report.upcast = 0
    if (this.#head < 0 || !upcaster.active) return
    const chunks = logChunks(this.#storage, { from: 0, to: this.#head, backwards: false, limit: Infinity }, () => this.#head)
    try {
      for (let chunk = await chunks.next(); chunk.length > 0; chunk = await chunks.next()) {
        for (const e of chunk) {
          try {
            if (upcaster.upcast([e])[0] !== e) this.report.upcast++
          } catch (err) {
            if (!isAnnalsError(err, 'ANNALS_UPCAST_FAILED')) throw err
            this.#problem('upcasts', err.message, e.position)
          }
        }
      }
    } catch (err) {
      // a record that does not decode stops the read; the records check names it
      if (!isAnnalsError(err, 'ANNALS_CORRUPT')) throw err
    } finally {
      await chunks.close()
    }
  }

  #problem (check: Check, message: string, position?: number): void {
    if (this.report.problems.length >= MAX_PROBLEMS) {
      this.report.more++
      return
    }
    this.report.problems.push(position === undefined ? { check, message } : { check, position, message })
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
          last = await this.#log!.lastRevision(stream)
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
