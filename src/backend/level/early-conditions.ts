// Appends' conditions checked early: the search of the log for an event that breaks an append's
// condition starts when the append is queued, against the log as committed then, so that it
// runs while the batches before it are written rather than after them. When the append's batch
// is built, the events committed since that search began are checked from memory: the writer
// keeps the type and tags of the events of its last batches. The search is made again at that
// moment, against the log as it is, whenever the early one cannot be trusted: a rule (deletion,
// truncation, retention) may hide events, or changed since the search began; the batches since
// are no longer all in memory; or the search failed.
import type { AppendCondition } from '../backend.js'
import { matchesQuery, type PlacedMeta } from '../append-checks.js'
import type { Rules } from '../rules.js'

/**
 * Finds the first position past `after` (and at most `head`) of an event matching a
 * condition's query, among the events on disk.
 */
export type ConflictFinder = (condition: AppendCondition, head: number) => Promise<number | undefined>

/** A search begun when its append was queued. */
export interface EarlyCheck {
  /** the committed head it searched up to */
  head: number
  /** the rules' epoch then */
  epoch: number
  /** the first conflict up to `head`; rejects as the search did (answered again, then) */
  found: Promise<number | undefined>
}

/** Events of the last batches kept for the checks, at the least (whole batches are kept). */
const RECENT_EVENTS = 65536

export class EarlyConditions {
  readonly #find: ConflictFinder
  readonly #rules: Rules
  /** the batches written lately, oldest first: the first position of each and its events' type and tags */
  #recent: Array<{ first: number, metas: readonly PlacedMeta[] }> = []
  #recentEvents = 0
  /** the first position the batches in memory cover (every position after it up to the head) */
  #from: number
  /** counts the batches that changed a stream's rules */
  #epoch = 0

  constructor (find: ConflictFinder, rules: Rules, head: number) {
    this.#find = find
    this.#rules = rules
    this.#from = head + 1
  }

  /** Begins the search of an append's condition against the log up to `head`, the committed head; undefined where a rule may hide events. */
  start (condition: AppendCondition, head: number): EarlyCheck | undefined {
    if (this.#rules.any) return undefined
    const found = this.#find(condition, head)
    found.catch(() => {}) // awaited when the batch is built, and searched again if it failed
    return { head, epoch: this.#epoch, found }
  }

  /** The first position up to `head` (the committed head) of an event breaking `condition`, from the early search where it holds. */
  async conflict (condition: AppendCondition, early: EarlyCheck | undefined, head: number): Promise<number | undefined> {
    if (early === undefined || early.epoch !== this.#epoch || this.#rules.any || early.head + 1 < this.#from) return await this.#find(condition, head)
    let stored: number | undefined
    try {
      stored = await early.found
    } catch {
      return await this.#find(condition, head)
    }
    if (stored !== undefined) return stored
    const low = Math.max(early.head + 1, (condition.after ?? -1) + 1)
    for (const { first, metas } of this.#recent) {
      if (first + metas.length <= low) continue
      for (let i = Math.max(0, low - first); i < metas.length && first + i <= head; i++) {
        if (matchesQuery(condition.failIfEventsMatch, metas[i]!.type, metas[i]!.tags)) return first + i
      }
    }
    return undefined
  }

  /** A batch was written: its events from `first` on, and whether it changed a stream's rules. */
  written (first: number, metas: readonly PlacedMeta[], changedRules: boolean): void {
    if (changedRules) this.#epoch++
    this.#recent.push({ first, metas })
    this.#recentEvents += metas.length
    while (this.#recentEvents - this.#recent[0]!.metas.length >= RECENT_EVENTS) {
      this.#recentEvents -= this.#recent.shift()!.metas.length
    }
    this.#from = this.#recent[0]!.first
  }

  /** The log was replaced (an import): nothing in memory covers it. */
  reset (head: number): void {
    this.#recent = []
    this.#recentEvents = 0
    this.#from = head + 1
    this.#epoch++
  }
}
