// The level backend's half of `annals verify`, on the raw door (not through open(), which a
// damaged log can stop): every chunk's checksum and events, positions from 0 without gaps,
// commit times that never decrease; every stream's blocks whole, in order, and the same events
// as the log's (each position up to the marker in exactly one block); summaries that agree
// with the blocks; id index entries that agree with the events they name. Memory stays flat:
// two bits per position up to the marker, and the streams of the events after it.
//
// Streams that lost events (rules.ts) are checked as a scavenge leaves them at any moment, even
// one interrupted by a crash: removed events may be emptied in the log (length 0), their
// stream's blocks below its first readable revision (the rule's `truncateBefore`) dropped or
// emptied, and a stream whose every revision was removed may keep its summary without blocks.
// Events below that revision are compared between the log and the blocks only as far as a
// scavenge leaves both; what reads is compared whole.
import { crc32 } from 'node:zlib'
import { decode } from '../../storage/codec.js'
import { Space, parseStreamKey, spaceEnd, spaceStart } from '../../storage/keys.js'
import type { Storage } from '../../storage/storage.js'
import { parseChunk } from './chunk.js'
import { peekEvent, readEvent } from './event-record.js'
import { decodeIdEntry, idOfKey } from './ids.js'
import { decodeTagEntry, TAG_HEADS_KEY, tagHeads } from './tags.js'
import { FORMAT_KEY, FORMAT_VERSION } from './format.js'
import { parseBlock } from './stream-block.js'
import { Rules } from '../rules.js'
import { decodeSummary, indexedUpTo } from './stream-index.js'

/** What a check found wrong, with the position it concerns where there is one. */
export interface Problem {
  check: 'format' | 'records' | 'times' | 'streams' | 'ids' | 'tags'
  position?: number
  message: string
}

/** What the log's checks found. */
export interface LogReport {
  /** positions 0 to events - 1 */
  events: number
  streams: number
  /** the last position the streams' blocks cover */
  indexedUpTo: number
  idEntries: number
  tagEntries: number
  /** the last revision of each stream, for the checks of the layers above (snapshots) */
  lastRevision: (stream: string) => Promise<number>
}

const CHUNK = 64

export async function verifyLevel (storage: Storage, problem: (p: Problem) => void, progress: (done: number, total: number) => void): Promise<LogReport> {
  return await new Verifier(storage, problem, progress).run()
}

/** An event's fingerprint, folded (XOR) over the log and over the blocks: equal when they hold the same events. */
function fingerprint (stream: string, revision: number, position: number, time: number, bytes: Buffer): number {
  return crc32(bytes, crc32(`${stream}\u0000${revision}\u0000${position}\u0000${time}`))
}

class Verifier {
  readonly #storage: Storage
  readonly #problem: (p: Problem) => void
  readonly #progress: (done: number, total: number) => void
  #head = -1
  #indexed = -1
  /** streams of the events after the marker: their next revision */
  readonly #tail = new Map<string, number>()
  #fromLog = 0
  #fromBlocks = 0
  #idsFromLog = 0
  #idsFromIndex = 0
  #idCount = 0
  #tagsFromLog = 0
  #tagsFromIndex = 0
  #tagCount = 0
  #streams = 0
  #newStreams = 0
  /** whether the log itself has problems: then the blocks are not compared with it as a whole */
  #logDamaged = false
  /** the rules of streams' lives: which revisions a scavenge may have taken out */
  #rules = new Rules()
  /** positions up to the marker whose event is removed (emptied, or below its stream's first readable revision) */
  #removed = new Uint8Array(0)

  constructor (storage: Storage, problem: (p: Problem) => void, progress: (done: number, total: number) => void) {
    this.#storage = storage
    this.#problem = problem
    this.#progress = progress
  }

  async run (): Promise<LogReport> {
    await this.#format()
    await this.#loadRules()
    await this.#marker()
    await this.#chunks()
    await this.#blocks()
    await this.#ids()
    await this.#tags()
    return {
      events: this.#head + 1,
      streams: this.#streams + this.#newStreams,
      indexedUpTo: this.#indexed,
      idEntries: this.#idCount,
      tagEntries: this.#tagCount,
      lastRevision: async stream => this.#tail.has(stream) ? this.#tail.get(stream)! - 1 : await this.#diskRevision(stream)
    }
  }

  async #format (): Promise<void> {
    const stored = await this.#storage.get(FORMAT_KEY)
    const last = await this.#storage.firstEntry({ gte: spaceStart(Space.log), lt: spaceEnd(Space.log), reverse: true })
    if (last !== undefined) {
      try {
        const chunk = parseChunk(last[0], last[1])
        this.#head = chunk.first + chunk.count - 1
      } catch {
        this.#head = -1 // the chunk pass reports it, and finds the head
      }
    }
    if (stored === undefined) {
      if (last !== undefined) this.#problem({ check: 'format', message: 'The database has events but no format marker' })
      return
    }
    let format: unknown
    try {
      format = decode(stored)
    } catch {}
    if (format !== FORMAT_VERSION) this.#problem({ check: 'format', message: `The format marker says ${String(format)}; this annals reads format ${FORMAT_VERSION}` })
  }

  async #loadRules (): Promise<void> {
    try {
      this.#rules = await Rules.load(this.#storage)
    } catch (err) {
      this.#problem({ check: 'streams', message: (err as Error).message })
    }
  }

  /** The first revision of a stream that may still be in the files (Infinity: none, tombstoned). */
  #firstKept (stream: string): number {
    const rule = this.#rules.stream(stream)
    return rule === undefined ? 0 : rule.tombstoned ? Infinity : rule.truncateBefore
  }

  #markRemoved (position: number): void {
    if (position <= this.#indexed) this.#removed[position >> 3]! |= 1 << (position & 7)
  }

  async #marker (): Promise<void> {
    try {
      this.#indexed = await indexedUpTo(this.#storage)
    } catch (err) {
      this.#problem({ check: 'streams', message: (err as Error).message })
    }
    this.#removed = new Uint8Array(Math.ceil((this.#indexed + 1) / 8))
  }

  /** Every chunk in position order: checksum, events decode, no gaps, times never decrease. */
  #logProblem (p: Problem): void {
    this.#logDamaged = true
    this.#problem(p)
  }

  async #chunks (): Promise<void> {
    let expected = 0
    let time = -Infinity
    // after a damaged chunk, where the next begins is not known: no gap is reported there
    let afterDamage = false
    const it = this.#storage.entries({ gte: spaceStart(Space.log), lt: spaceEnd(Space.log) })
    try {
      for (let entries = await it.nextv(CHUNK); entries.length > 0; entries = await it.nextv(CHUNK)) {
        for (const [key, value] of entries) {
          let chunk
          try {
            chunk = parseChunk(key, value)
          } catch (err) {
            this.#logProblem({ check: 'records', message: (err as Error).message, position: key.length === 9 ? key.readUIntBE(3, 6) : expected })
            afterDamage = true
            continue
          }
          if (chunk.first !== expected && !afterDamage) {
            const missing = chunk.first - expected
            if (missing > 0) this.#logProblem({ check: 'records', position: expected, message: `Position ${expected}${missing > 1 ? ` to ${chunk.first - 1}` : ''} ${missing > 1 ? 'are' : 'is'} missing: the log jumps to ${chunk.first}` })
            else this.#logProblem({ check: 'records', position: chunk.first, message: `Positions ${chunk.first} to ${expected - 1} are in two records` })
          }
          afterDamage = false
          expected = chunk.first + chunk.count
          this.#head = Math.max(this.#head, expected - 1)
          if (chunk.time < time) {
            this.#logProblem({ check: 'times', position: chunk.first, message: `The commit time goes back at position ${chunk.first}: ${new Date(chunk.time).toISOString()}, after ${new Date(time).toISOString()}` })
          }
          time = chunk.time
          for (let i = 0; i < chunk.count; i++) await this.#event(chunk, i)
        }
        this.#progress(expected, 2 * (this.#head + 1))
      }
    } finally {
      await it.close()
    }
  }

  async #event (chunk: ReturnType<typeof parseChunk>, i: number): Promise<void> {
    const position = chunk.first + i
    const start = chunk.spans[2 * i]!
    const end = chunk.spans[2 * i + 1]!
    if (start === end) {
      this.#markRemoved(position)
      return
    }
    let header
    try {
      readEvent(chunk.buffer, start, end, position, chunk.time)
      header = peekEvent(chunk.buffer, start, end)
    } catch (err) {
      this.#logProblem({ check: 'records', position, message: `The event at position ${position} does not decode (${(err as Error).message})` })
      return
    }
    if (header.indexed) this.#idsFromLog ^= crc32(`${header.id}\u0000${position}\u0000${header.revision}`)
    for (const tag of header.tags ?? []) this.#tagsFromLog ^= tagFingerprint(tag, position, header.type, header.tags!)
    if (position <= this.#indexed) {
      // below its stream's first readable revision: in the blocks, or dropped from them
      if (header.revision < this.#firstKept(header.stream)) this.#markRemoved(position)
      else this.#fromLog ^= fingerprint(header.stream, header.revision, position, chunk.time, chunk.buffer.subarray(start, end))
      return
    }
    let next = this.#tail.get(header.stream)
    if (next === undefined) {
      next = await this.#diskRevision(header.stream) + 1
      if (next === 0) this.#newStreams++
    }
    if (header.revision !== next) {
      this.#problem({ check: 'streams', position, message: `Position ${position} holds revision ${header.revision} of stream '${header.stream}', whose next revision is ${next}` })
    }
    this.#tail.set(header.stream, header.revision + 1)
  }

  /** The last revision of a stream in its summary on disk, or -1. */
  async #diskRevision (stream: string): Promise<number> {
    const value = await this.#storage.get(Buffer.concat([Buffer.from([Space.summaries]), Buffer.from(stream, 'utf8')]))
    if (value === undefined) return -1
    try {
      return decodeSummary(stream, value).revision
    } catch {
      return -1 // reported by the block pass
    }
  }

  /**
   * The streams' blocks: checksums, revisions from 0 without gaps at increasing positions, each
   * position up to the marker in exactly one block, the same events as the log's, and each
   * stream's summary that of its last block.
   */
  async #blocks (): Promise<void> {
    const indexed = this.#indexed
    const covered = new Uint8Array(Math.ceil((indexed + 1) / 8))
    const summaries = this.#storage.entries({ gte: spaceStart(Space.summaries), lt: spaceEnd(Space.summaries) })
    let summary: [Buffer, Buffer] | undefined
    let summariesDone = false
    const nextSummary = async (): Promise<void> => {
      if (summariesDone) return
      summary = (await summaries.nextv(1))[0]
      if (summary === undefined) summariesDone = true
    }
    await nextSummary()
    let current: { stream: string, next: number, position: number, time: number } | undefined
    let done = 0
    // a summary without blocks: a stream whose every revision was removed, or damage
    const blockless = (entry: [Buffer, Buffer]): void => {
      const stream = entry[0].subarray(1).toString('utf8')
      try {
        if (decodeSummary(stream, entry[1]).revision < this.#firstKept(stream)) return
      } catch (err) {
        this.#problem({ check: 'streams', message: (err as Error).message })
        return
      }
      this.#problem({ check: 'streams', message: `Stream '${stream}' has a summary but no blocks` })
    }
    const finish = async (): Promise<void> => {
      if (current === undefined) return
      const name = Buffer.from(current.stream, 'utf8')
      // summaries of streams without blocks, before this one
      while (summary !== undefined && Buffer.compare(summary[0].subarray(1), name) < 0) {
        blockless(summary)
        await nextSummary()
      }
      if (summary === undefined || !summary[0].subarray(1).equals(name)) {
        this.#problem({ check: 'streams', message: `Stream '${current.stream}' has blocks but no summary` })
        return
      }
      try {
        const s = decodeSummary(current.stream, summary[1])
        if (s.revision !== current.next - 1 || s.position !== current.position || s.time !== current.time) {
          this.#problem({ check: 'streams', position: current.position, message: `The summary of stream '${current.stream}' says revision ${s.revision} at position ${s.position}; its blocks end at revision ${current.next - 1}, position ${current.position}` })
        }
      } catch (err) {
        this.#problem({ check: 'streams', message: (err as Error).message })
      }
      await nextSummary()
    }
    const it = this.#storage.entries({ gte: spaceStart(Space.streams), lt: spaceEnd(Space.streams) })
    try {
      for (let entries = await it.nextv(CHUNK); entries.length > 0; entries = await it.nextv(CHUNK)) {
        for (const [key, value] of entries) {
          const parsed = parseStreamKey(key)
          if (parsed === undefined) {
            this.#problem({ check: 'streams', message: `A key of the streams' blocks is malformed (${key.toString('hex')})` })
            continue
          }
          const { stream, revision } = parsed
          if (current?.stream !== stream) {
            await finish()
            this.#streams++
            // a stream's first block holds revision 0, or, once its first revisions were
            // removed, any revision up to its first readable one
            current = { stream, next: revision > 0 && revision <= this.#firstKept(stream) ? revision : 0, position: -1, time: 0 }
          }
          let block
          try {
            block = parseBlock(stream, key, value)
          } catch (err) {
            this.#problem({ check: 'streams', message: (err as Error).message })
            continue
          }
          if (revision !== current.next) {
            this.#problem({ check: 'streams', position: block.positions[0], message: `Stream '${stream}' has a block from revision ${revision} where revision ${current.next} was expected` })
          }
          for (let i = 0; i < block.count; i++) {
            const position = block.positions[i]!
            if (position <= current.position) {
              this.#problem({ check: 'streams', position, message: `Stream '${stream}' has revision ${revision + i} at position ${position}, before its revision before` })
            }
            if (position > indexed) {
              this.#problem({ check: 'streams', position, message: `Stream '${stream}' has a block covering position ${position}, past the marker (${indexed})` })
            } else {
              const bit = 1 << (position & 7)
              if ((covered[position >> 3]! & bit) !== 0) this.#problem({ check: 'streams', position, message: `Position ${position} is in two blocks (again as revision ${revision + i} of '${stream}')` })
              covered[position >> 3]! |= bit
            }
            const start = block.spans[2 * i]!
            const end = block.spans[2 * i + 1]!
            if (start !== end && revision + i >= this.#firstKept(stream)) this.#fromBlocks ^= fingerprint(stream, revision + i, position, block.times[i]!, block.buffer.subarray(start, end))
            current.position = position
            current.time = block.times[i]!
          }
          current.next = revision + block.count
          done += block.count
        }
        this.#progress(this.#head + 1 + done, 2 * (this.#head + 1))
      }
      await finish()
      while (summary !== undefined) {
        blockless(summary)
        await nextSummary()
      }
    } finally {
      await it.close()
      await summaries.close()
    }
    let uncovered = 0
    for (let position = 0; position <= indexed; position++) {
      const bit = 1 << (position & 7)
      if ((covered[position >> 3]! & bit) === 0 && (this.#removed[position >> 3]! & bit) === 0 && uncovered++ < 10) {
        this.#problem({ check: 'streams', position, message: `Position ${position} is in no stream's blocks` })
      }
    }
    if (uncovered === 0 && !this.#logDamaged && this.#fromBlocks !== this.#fromLog) {
      this.#problem({ check: 'streams', message: 'The streams\' blocks do not hold the same events as the log' })
    }
  }

  /** Id index entries: each names an event with that id, at that position and revision. */
  async #ids (): Promise<void> {
    for (const space of [Space.ids, Space.uuids]) await this.#idSpace(space)
    if (!this.#logDamaged && this.#idsFromIndex !== this.#idsFromLog) {
      this.#problem({ check: 'ids', message: 'The id index does not agree with the ids of the events it names' })
    }
  }

  async #idSpace (space: number): Promise<void> {
    const it = this.#storage.entries({ gte: spaceStart(space as never), lt: spaceEnd(space as never) })
    try {
      for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
        for (const [key, value] of entries) {
          this.#idCount++
          const id = idOfKey(key)
          try {
            const entry = decodeIdEntry(id, value)
            this.#idsFromIndex ^= crc32(`${id}\u0000${entry.position}\u0000${entry.revision}`)
          } catch (err) {
            this.#problem({ check: 'ids', message: (err as Error).message })
          }
        }
      }
    } finally {
      await it.close()
    }
  }

  /**
   * Tag index entries: one for each tag of each event still in the log, saying its type and
   * tags; and each tag's head at or past its last entry (conditions trust a head to say no event
   * with the tag comes after it).
   */
  async #tags (): Promise<void> {
    if (await this.#storage.get(TAG_HEADS_KEY) === undefined) this.#problem({ check: 'tags', message: 'The marker of the tags\' heads is missing' })
    const it = this.#storage.entries({ gte: spaceStart(Space.tags), lt: spaceEnd(Space.tags) })
    try {
      for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
        const last = new Map<string, number>()
        for (const [key, value] of entries) {
          this.#tagCount++
          try {
            const { tag, position, type, tags } = decodeTagEntry(key, value)
            this.#tagsFromIndex ^= tagFingerprint(tag, position, type, tags)
            last.set(tag, Math.max(position, last.get(tag) ?? -1))
          } catch (err) {
            this.#problem({ check: 'tags', message: `A tag index entry is damaged: ${(err as Error).message}` })
          }
        }
        const tags = [...last.keys()]
        try {
          const heads = await tagHeads(this.#storage, tags)
          tags.forEach((tag, i) => {
            if (heads[i]! < last.get(tag)!) this.#problem({ check: 'tags', message: `The head of the tag '${tag}' (${heads[i]!}) is before its entry at position ${last.get(tag)!}` })
          })
        } catch (err) {
          this.#problem({ check: 'tags', message: (err as Error).message })
        }
      }
    } finally {
      await it.close()
    }
    if (!this.#logDamaged && this.#tagsFromIndex !== this.#tagsFromLog) {
      this.#problem({ check: 'tags', message: 'The tag index does not agree with the tags of the events in the log' })
    }
  }
}

function tagFingerprint (tag: string, position: number, type: string, tags: readonly string[]): number {
  return crc32(`${tag}\u0000${position}\u0000${type}\u0000${tags.join('\u0000')}`)
}
