// The current revision of recently written streams, so that checking an expected revision costs
// no read. Bounded (least recently written out first) so memory stays flat with millions of
// streams; a read does not refresh an entry, which keeps hits at one Map lookup.
// Only the writer fills it, and only with committed revisions: with one writer per database,
// a cached revision is never stale.

export class RevisionCache {
  readonly #map = new Map<string, number>()
  readonly #capacity: number

  constructor (capacity: number) {
    this.#capacity = capacity
  }

  get (stream: string): number | undefined {
    return this.#map.get(stream)
  }

  set (stream: string, revision: number): void {
    // move to the back: Map keeps insertion order, so the front is the least recently written
    this.#map.delete(stream)
    this.#map.set(stream, revision)
    if (this.#map.size > this.#capacity) {
      this.#map.delete(this.#map.keys().next().value as string)
    }
  }
}
