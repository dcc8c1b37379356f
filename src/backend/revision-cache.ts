// The current revision of recently written streams, so that checking an expected revision costs
// no read. Bounded so memory stays flat with millions of streams: past its capacity, the entry
// cached first goes first. Neither reads nor updates reorder entries, which keeps both at one
// Map operation on the append path; a stream evicted while busy costs one read to come back.
// Only the writer fills it, and only with committed revisions: with one writer per database (the
// level backend), a cached revision is never stale; where several processes write (PostgreSQL),
// the write checks the revisions it assumed under its lock.

export class RevisionCache {
  readonly #map = new Map<string, number>()
  readonly #capacity: number

  constructor (capacity: number) {
    this.#capacity = capacity
  }

  /** Streams cached. */
  get size (): number {
    return this.#map.size
  }

  /** How many streams it holds at most. */
  get capacity (): number {
    return this.#capacity
  }

  get (stream: string): number | undefined {
    return this.#map.get(stream)
  }

  set (stream: string, revision: number): void {
    this.#map.set(stream, revision)
    if (this.#map.size > this.#capacity) {
      // Map keeps insertion order: the first key is the one cached first
      this.#map.delete(this.#map.keys().next().value as string)
    }
  }
}
