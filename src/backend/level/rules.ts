// What of the log no longer reads: the rules of streams' lives. A stream deleted or truncated
// reads from a revision on (revisions below it are removed); a tombstoned one can never be
// written again and reads nothing; retention (a stream's own, or its category's by prefix)
// removes events past a count or an age; an archive removes every position before a bound.
// Removed events keep their positions for ever (positions are never reused); they stop being
// read at once, and `scavenge` takes their bytes out of the files.
//
// The rules are few (a stream's own rule exists only once something was set for it), kept in
// memory, and stored in key space `X`: `X` stream -> its rule; `X` 0x00 prefix -> a category's
// retention; `X` 0x00 0x00 -> the archive bound. Rules change in the batch of the system event
// that records the change (see writer.ts), so the log and the rules agree after any crash.
import { AnnalsError } from '../../errors.js'
import { decode, encode } from '../../storage/codec.js'
import { Space, spaceEnd, spaceStart } from '../../storage/keys.js'
import type { Storage, WriteOp } from '../../storage/storage.js'
import type { Retention, StreamRule } from '../backend.js'

const ARCHIVE_KEY = Buffer.from([Space.rules, 0, 0])

export function ruleKey (stream: string): Buffer {
  return Buffer.concat([Buffer.from([Space.rules]), Buffer.from(stream, 'utf8')])
}

export function categoryKey (prefix: string): Buffer {
  return Buffer.concat([Buffer.from([Space.rules, 0]), Buffer.from(prefix, 'utf8')])
}

/** The rules in force, and how they remove events. */
export class Rules {
  readonly #streams = new Map<string, StreamRule>()
  readonly #categories = new Map<string, Retention>()
  #archivedBefore = 0

  /** Loads every rule stored. */
  static async load (storage: Storage): Promise<Rules> {
    const rules = new Rules()
    const it = storage.entries({ gte: spaceStart(Space.rules), lt: spaceEnd(Space.rules) })
    try {
      for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
        for (const [key, value] of entries) rules.#load(key, value)
      }
    } finally {
      await it.close()
    }
    return rules
  }

  #load (key: Buffer, value: Buffer): void {
    let v: unknown
    try {
      v = decode(value)
    } catch (err) {
      throw new AnnalsError('ANNALS_CORRUPT', `A stream rule is damaged (${key.toString('hex')})`, { cause: err })
    }
    if (key.length === 3 && key[1] === 0 && key[2] === 0) this.#archivedBefore = v as number
    else if (key[1] === 0) this.#categories.set(key.toString('utf8', 2), v as Retention)
    else this.#streams.set(key.toString('utf8', 1), v as StreamRule)
  }

  /** Whether any rule removes anything: reads need not look when none does. */
  get any (): boolean {
    return this.#streams.size > 0 || this.#categories.size > 0 || this.#archivedBefore > 0
  }

  get archivedBefore (): number {
    return this.#archivedBefore
  }

  /** Every stream's own rule. */
  streamRules (): IterableIterator<[string, StreamRule]> {
    return this.#streams.entries()
  }

  /** A stream's own rule (deleted, truncated, tombstoned, its own retention). */
  stream (stream: string): StreamRule | undefined {
    return this.#streams.get(stream)
  }

  /** The retention of a stream: its own, else its category's (the longest prefix that matches). */
  retention (stream: string): Retention | undefined {
    const own = this.#streams.get(stream)
    if (own?.maxCount !== undefined || own?.maxAge !== undefined) return own
    let best: string | undefined
    for (const prefix of this.#categories.keys()) {
      if (stream.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix
    }
    return best === undefined ? undefined : this.#categories.get(best)
  }

  /** Whether retention of this stream needs its last revision (a count). */
  counts (stream: string): boolean {
    return this.retention(stream)?.maxCount !== undefined
  }

  /**
   * Whether the event at `revision` of `stream`, at `position`, committed at `time`, is removed,
   * now that it is `now` and the stream's last revision is `last` (needed for a count only).
   */
  removed (stream: string, revision: number, position: number, time: number, now: number, last: number): boolean {
    if (position < this.#archivedBefore) return true
    const own = this.#streams.get(stream)
    if (own !== undefined && (own.tombstoned || revision < own.truncateBefore)) return true
    const retention = this.retention(stream)
    if (retention === undefined) return false
    if (retention.maxAge !== undefined && time < now - retention.maxAge) return true
    if (retention.maxCount !== undefined && revision <= last - retention.maxCount) return true
    return false
  }

  /** The first revision of `stream` that reads (by deletion and truncation, not retention). */
  firstRevision (stream: string): number {
    return this.#streams.get(stream)?.truncateBefore ?? 0
  }

  /** Puts into `ops` the writes of a stream's new rule; returns what to do once they are written. */
  stageStream (ops: WriteOp[], stream: string, rule: StreamRule): () => void {
    ops.push({ key: ruleKey(stream), value: encode(rule) })
    return () => { this.#streams.set(stream, rule) }
  }

  stageCategory (ops: WriteOp[], prefix: string, retention: Retention | undefined): () => void {
    ops.push({ key: categoryKey(prefix), value: retention === undefined ? undefined : encode(retention) })
    return () => {
      if (retention === undefined) this.#categories.delete(prefix)
      else this.#categories.set(prefix, retention)
    }
  }

  stageArchive (ops: WriteOp[], before: number): () => void {
    ops.push({ key: ARCHIVE_KEY, value: encode(before) })
    return () => { this.#archivedBefore = Math.max(this.#archivedBefore, before) }
  }
}

/**
 * What one read sees of the rules: whether an event reads, at the moment the read began (ages
 * are measured from then), with the last revisions of the streams a count applies to.
 */
export class Visibility {
  readonly #rules: Rules
  readonly #lastRevision: (stream: string) => Promise<number>
  readonly #now = Date.now()
  readonly #last = new Map<string, number>()

  constructor (rules: Rules, lastRevision: (stream: string) => Promise<number>) {
    this.#rules = rules
    this.#lastRevision = lastRevision
  }

  /** Whether any rule may hide an event: when none does, reads need not ask. */
  get active (): boolean {
    return this.#rules.any
  }

  /** Makes ready what {@link visible} needs to know of these streams (their last revision, where a count applies). */
  async prepare (streams: Iterable<string>): Promise<void> {
    for (const stream of streams) {
      if (!this.#last.has(stream) && this.#rules.counts(stream)) this.#last.set(stream, await this.#lastRevision(stream))
    }
  }

  /** Whether the event reads (a count of a stream not made ready counts from the event itself: it reads). */
  visible (stream: string, revision: number, position: number, time: number): boolean {
    return !this.#rules.removed(stream, revision, position, time, this.#now, this.#last.get(stream) ?? revision)
  }

  /** The first revision of a stream that may read (by deletion and truncation). */
  firstRevision (stream: string): number {
    return this.#rules.firstRevision(stream)
  }

  /** Whether the stream reads nothing at all, for ever. */
  tombstoned (stream: string): boolean {
    return this.#rules.stream(stream)?.tombstoned === true
  }
}
