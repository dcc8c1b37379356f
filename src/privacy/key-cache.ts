// The subjects' keys kept in memory, and the marks that keep a shred from being undone: a key
// read from the store (or made) before or during a shred must not be remembered after it, or
// the erased key would go on opening fields (and sealing new ones) in this process.
import type { SubjectKey } from './cipher.js'
import { wipe } from './key-store.js'

/** Subjects whose keys are kept in memory, and subjects whose latest shreds are remembered. */
const SIZE = 65536

/** What {@link KeyCache.mark} gives: compared by {@link KeyCache.unchanged} once a key read is done. */
export interface Mark {
  readonly clock: number
  readonly subject: number | undefined
}

/**
 * Copies of keys by subject (null: the subject has none), bounded, oldest dropped first (the
 * store has it when it is needed again); and, for every shred that starts or ends, a mark on
 * its subject, so that a key read that straddled it can tell.
 */
export class KeyCache {
  readonly #keys = new Map<string, SubjectKey | null>()
  /** subject -> the clock at the latest start or end of its shred, oldest first */
  readonly #marks = new Map<string, number>()
  #clock = 0
  /** the newest mark dropped to bound #marks */
  #dropped = 0

  /** Whether the cache knows about the subject (a key, or that it has none). */
  has (subject: string): boolean {
    return this.#keys.has(subject)
  }

  /** The subject's key; null when it has none; undefined when not cached. */
  get (subject: string): SubjectKey | null | undefined {
    return this.#keys.get(subject)
  }

  /** Take before reading or making a subject's key in the store. */
  mark (subject: string): Mark {
    return { clock: this.#clock, subject: this.#marks.get(subject) }
  }

  /** Whether no shred of the subject started or ended since `mark` was taken. */
  unchanged (subject: string, mark: Mark): boolean {
    const now = this.#marks.get(subject)
    if (now !== mark.subject) return false
    // its mark may have been dropped since: then it cannot tell, and says no
    return now !== undefined || this.#dropped <= mark.clock
  }

  /** Whether a shred of the subject started or ended lately (since the marks kept began). */
  shredLately (subject: string): boolean {
    return this.#marks.has(subject)
  }

  /** Remembers a copy of the subject's key (the store may hand out objects it keeps); returns the copy. */
  remember (subject: string, key: SubjectKey | undefined): SubjectKey | null {
    this.#drop(subject)
    const copy = key === undefined ? null : { id: Buffer.from(key.id), key: Buffer.from(key.key) }
    this.#keys.set(subject, copy)
    this.#bound()
    return copy
  }

  /** A shred of the subject starts: its key is dropped, and reads begun before it will not be remembered. */
  shredStarts (subject: string): void {
    this.#markShred(subject)
    this.#drop(subject)
  }

  /**
   * A shred of the subject ended: reads begun during it will not be remembered; the subject has
   * no key (or, when the shred failed, the store is asked again).
   */
  shredEnds (subject: string, erased: boolean): void {
    this.#markShred(subject)
    this.#drop(subject)
    if (erased) {
      this.#keys.set(subject, null)
      this.#bound()
    }
  }

  #markShred (subject: string): void {
    this.#marks.delete(subject)
    this.#marks.set(subject, ++this.#clock)
    if (this.#marks.size > SIZE) {
      const [oldest, clock] = this.#marks.entries().next().value as [string, number]
      this.#marks.delete(oldest)
      this.#dropped = clock
    }
  }

  /** Wipes and forgets the subject's key. */
  #drop (subject: string): void {
    const key = this.#keys.get(subject)
    if (key !== undefined && key !== null) wipe(key)
    this.#keys.delete(subject)
  }

  #bound (): void {
    if (this.#keys.size <= SIZE) return
    this.#drop(this.#keys.keys().next().value as string)
  }
}
