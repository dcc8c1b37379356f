// Live updates by server-sent events: one subscription from the end of the log feeds every open
// page. New events go out in small batches (`append`: the head, the last 50 events, how many
// there were), and where projections and durable subscriptions stand (`progress`) whenever it
// changes, checked once a second.
import type { SSEStreamingApi } from 'hono/streaming'
import type { RecordedEvent } from '../log/types.js'
import type { Subscription } from '../subscriptions/subscription.js'
import type { LiveMessages } from './api-types.js'
import type { Reader } from './data.js'

/** Events sent in one `append` message at most (the count says how many there were). */
const BATCH = 50
/** How long new events wait to be sent together, in ms. */
const FLUSH_MS = 200
/** How often progress is checked, in ms. */
const PROGRESS_MS = 1000
/** A comment line every so often keeps proxies and idle timeouts from closing the stream. */
const KEEPALIVE_MS = 15_000

/** The open pages, and what they are sent. */
export class Live {
  readonly #reader: Reader
  readonly #clients = new Set<SSEStreamingApi>()
  readonly #subscription: Subscription
  readonly #progressTimer: NodeJS.Timeout
  #pending: RecordedEvent[] = []
  #count = 0
  #flushTimer: NodeJS.Timeout | undefined
  #progress = ''
  #closed = false

  constructor (reader: Reader) {
    this.#reader = reader
    this.#subscription = reader.db.subscribe({
      from: 'end',
      onError: err => { process.stderr.write(`annals ui: live updates stopped: ${(err as Error)?.message ?? String(err)}\n`) }
    }, event => { this.#add(event) })
    this.#progressTimer = setInterval(() => { void this.#checkProgress() }, PROGRESS_MS)
    this.#progressTimer.unref()
  }

  /** Serves one page until it goes away (or the server closes): progress now, then what comes. */
  async attach (stream: SSEStreamingApi): Promise<void> {
    if (this.#closed) return
    this.#clients.add(stream)
    const gone = new Promise<void>(resolve => stream.onAbort(resolve))
    try {
      await this.#send(stream, 'progress', await this.#reader.progress())
      while (!stream.aborted && !stream.closed && !this.#closed) {
        await Promise.race([gone, stream.sleep(KEEPALIVE_MS)])
        if (!stream.aborted && !this.#closed) await stream.write(': keep-alive\n\n')
      }
    } finally {
      this.#clients.delete(stream)
    }
  }

  /** Stops the subscription and ends every open stream. */
  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#progressTimer)
    clearTimeout(this.#flushTimer)
    for (const stream of this.#clients) stream.abort()
    this.#clients.clear()
    await this.#subscription.close()
  }

  #add (event: RecordedEvent): void {
    this.#pending.push(event)
    if (this.#pending.length > BATCH) this.#pending.shift()
    this.#count++
    this.#flushTimer ??= setTimeout(() => { void this.#flush() }, FLUSH_MS)
  }

  async #flush (): Promise<void> {
    this.#flushTimer = undefined
    const events = this.#pending
    const count = this.#count
    this.#pending = []
    this.#count = 0
    if (this.#clients.size === 0 || events.length === 0 || this.#closed) return
    const last = events.at(-1)!
    try {
      const message: LiveMessages['append'] = { head: { position: last.position, time: last.time }, events: await this.#reader.rows(events), count }
      await this.#broadcast('append', message)
      await this.#checkProgress()
    } catch (err) {
      if (!this.#closed) process.stderr.write(`annals ui: live update failed: ${(err as Error)?.message ?? String(err)}\n`)
    }
  }

  async #checkProgress (): Promise<void> {
    if (this.#clients.size === 0 || this.#closed) return
    try {
      const progress = await this.#reader.progress()
      const text = JSON.stringify(progress)
      if (text === this.#progress) return
      this.#progress = text
      await this.#broadcast('progress', progress)
    } catch (err) {
      // the database closing under a timer: nothing to report
      if (!this.#closed) process.stderr.write(`annals ui: live progress failed: ${(err as Error)?.message ?? String(err)}\n`)
    }
  }

  async #broadcast<K extends keyof LiveMessages> (event: K, data: LiveMessages[K]): Promise<void> {
    await Promise.all([...this.#clients].map(async stream => { await this.#send(stream, event, data) }))
  }

  async #send<K extends keyof LiveMessages> (stream: SSEStreamingApi, event: K, data: LiveMessages[K]): Promise<void> {
    if (stream.aborted || stream.closed) return
    await stream.writeSSE({ event, data: JSON.stringify(data) })
  }
}
