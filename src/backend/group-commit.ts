// Group commit: appends queue up; whenever the committer is free it takes everything waiting
// (up to a number of events) and commits it as one batch. Many small concurrent appends thus
// cost one write, and with `sync` one fsync, between them. An append is never split across
// batches. The queue is bounded: past its bound, appends wait for room before they queue
// (backpressure), rather than memory growing without end.

/** One queued item: its size in events, and how to settle it. */
export interface Queued<T> {
  size: number
  resolve: (result: T) => void
  reject: (err: unknown) => void
}

/** Most events committed in one batch; a single larger append still goes in whole. */
export const MAX_BATCH_EVENTS = 8192
/** Most events queued; past it, appends wait for room. */
export const MAX_QUEUED_EVENTS = 65536

export class GroupCommit<Item extends Queued<T>, T> {
  readonly #commit: (group: Item[]) => Promise<void>
  /** the queue: items from `#head` on */
  #items: Item[] = []
  #head = 0
  #queued = 0
  #running: Promise<void> | undefined
  #starting = false
  /** appends waiting for room */
  #waiting: Array<() => void> = []

  /**
   * `commit` must settle every item of the group it is given; any it leaves unsettled when it
   * throws are rejected with what it threw.
   */
  constructor (commit: (group: Item[]) => Promise<void>) {
    this.#commit = commit
  }

  /** Queues an item (once there is room); the item's promise settles when its batch does. */
  push (item: Item): void {
    if (this.#queued >= MAX_QUEUED_EVENTS && this.#queued > 0) {
      this.#waiting.push(() => this.push(item))
      return
    }
    this.#items.push(item)
    this.#queued += item.size
    if (this.#running === undefined && !this.#starting) {
      // start after the promise jobs already queued: callers resuming from the previous batch
      // re-append a few hops apart, and starting at the first would write it alone (measured:
      // batches of 1 and 63 in turn with 64 callers). A microtask rather than setImmediate
      // keeps a lone append's latency at its write.
      this.#starting = true
      queueMicrotask(this.#start)
    }
  }

  /** Items waiting (those waiting for room included) and their events (those in the queue). */
  get waiting (): { appends: number, events: number } {
    return { appends: this.#items.length - this.#head + this.#waiting.length, events: this.#queued }
  }

  /** Resolves when every queued item has been committed (or failed). */
  async drain (): Promise<void> {
    while (this.#running !== undefined || this.#starting || this.#waiting.length > 0) {
      await (this.#running ?? new Promise(resolve => setImmediate(resolve)))
    }
  }

  readonly #start = (): void => {
    this.#starting = false
    this.#running ??= this.#run()
  }

  async #run (): Promise<void> {
    try {
      while (this.#head < this.#items.length) {
        const group = this.#take()
        try {
          await this.#commit(group)
        } catch (err) {
          for (const item of group) item.reject(err)
        }
        this.#makeRoom()
      }
    } finally {
      this.#running = undefined
    }
  }

  /** The next group: everything waiting, up to MAX_BATCH_EVENTS (at least one item). */
  #take (): Item[] {
    const items = this.#items
    let end = this.#head + 1
    let count = items[this.#head]!.size
    while (end < items.length && count + items[end]!.size <= MAX_BATCH_EVENTS) count += items[end++]!.size
    const group = items.slice(this.#head, end)
    this.#head = end
    this.#queued -= count
    if (this.#head === items.length) {
      this.#items = []
      this.#head = 0
    } else if (this.#head > 4096 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head)
      this.#head = 0
    }
    return group
  }

  #makeRoom (): void {
    while (this.#waiting.length > 0 && this.#queued < MAX_QUEUED_EVENTS) this.#waiting.shift()!()
  }
}
