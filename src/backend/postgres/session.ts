// A connection of the backend's own, outside the pool, held for as long as the backend is open:
// it LISTENs to the schema's channel (commits of every process, notices), holds this process's
// advisory locks (tryLock) and runs the writer's one-call appends (see `listening`). When it
// drops, the locks it held are lost (their `lost` settles) and it connects again, LISTENs again
// and has the backend catch up on what it missed.
// A slow periodic check is the safety net for a notification that never came. A lock this process
// asked for and found held is announced free to it (locally) every second, for it to try again:
// a process killed while holding a lock says nothing, and the server lets the lock go with its
// session.
import { createHash, randomUUID } from 'node:crypto'
import pg from 'pg'
import { LocalCoordination } from '../local-coordination.js'
import type { Lock } from '../backend.js'
import { storageError, type Connection } from './connection.js'

/** How often the backend checks the head row, notifications or not. */
export const CHECK_EVERY_MS = 5000
/** How often the locks this process found held are announced free to it, to be tried again. */
export const LOCK_RETRY_MS = 1000
/** Longest payload PostgreSQL's NOTIFY carries, in bytes. */
const MAX_PAYLOAD = 7999

/** What the session tells the backend. */
export interface SessionHandlers {
  /** a commit of some process, from its notification */
  commit (last: number, time: number): void
  /** the backend should look at the head row itself (after a reconnect, and now and then) */
  check (): Promise<void>
}

export class Session {
  readonly #conn: Connection
  readonly #handlers: SessionHandlers
  /** notices are delivered here at once; those that come back from the server are known by this */
  readonly #instance = randomUUID()
  readonly #local = new LocalCoordination()
  readonly #held = new Map<string, { key: string, lose: () => void }>()
  /** locks asked for and found held by another session, since the last announcement */
  readonly #wanted = new Set<string>()
  #client: pg.Client | undefined
  #connecting: Promise<pg.Client> | undefined
  #retry: NodeJS.Timeout | undefined
  #timer: NodeJS.Timeout | undefined
  #lockTimer: NodeJS.Timeout | undefined
  #closed = false

  private constructor (conn: Connection, handlers: SessionHandlers) {
    this.#conn = conn
    this.#handlers = handlers
  }

  /** Connects and LISTENs; fails (ANNALS_STORAGE) when the server cannot be reached. */
  static async start (conn: Connection, handlers: SessionHandlers): Promise<Session> {
    const session = new Session(conn, handlers)
    await session.#connect()
    session.#timer = setInterval(() => { void session.#check() }, CHECK_EVERY_MS)
    session.#timer.unref()
    session.#lockTimer = setInterval(() => { session.#retryLocks() }, LOCK_RETRY_MS)
    session.#lockTimer.unref()
    return session
  }

  async #connect (): Promise<pg.Client> {
    this.#connecting ??= (async () => {
      const client = new pg.Client({ ...this.#conn.clientConfig, application_name: 'annals-session' })
      client.on('notification', msg => { this.#heard(msg.payload ?? '') })
      const lost = (): void => { this.#lost(client) }
      client.on('error', lost)
      client.on('end', lost)
      try {
        await client.connect()
        await client.query(`listen "${this.#conn.channel}"`)
      } catch (err) {
        client.removeAllListeners('end')
        await client.end().catch(() => {})
        throw storageError(err)
      }
      this.#client = client
      return client
    })()
    try {
      return await this.#connecting
    } finally {
      this.#connecting = undefined
    }
  }

  /** The connection went away: its locks with it; connect again (and catch up) unless closed. */
  #lost (client: pg.Client): void {
    if (this.#client !== client) return
    this.#client = undefined
    for (const [, held] of this.#held) held.lose()
    this.#held.clear()
    if (!this.#closed) this.#reconnect(100)
  }

  #reconnect (wait: number): void {
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      if (this.#closed) return
      this.#connect().then(async () => { await this.#check() }, () => { this.#reconnect(Math.min(wait * 2, 5000)) })
    }, wait)
    this.#retry.unref()
  }

  async #check (): Promise<void> {
    if (this.#closed) return
    try {
      await this.#handlers.check()
    } catch {} // the next check, or the next reconnect, tries again
  }

  /**
   * Tells this process's listeners that the locks it found held may be free: their holders may
   * have gone without a word (killed). Whoever still wants one asks again (and, refused, is
   * told again next time); one no longer wanted is forgotten.
   */
  #retryLocks (): void {
    if (this.#closed || this.#wanted.size === 0) return
    const names = [...this.#wanted]
    this.#wanted.clear()
    for (const name of names) this.#local.notify('lock-freed', name)
  }

  /** A notification: `c<first>:<last>:<time>` for a commit, else a notice `[sender, topic, message]`. */
  #heard (payload: string): void {
    if (payload.startsWith('c')) {
      const [, last, time] = payload.slice(1).split(':').map(Number)
      if (Number.isSafeInteger(last) && Number.isSafeInteger(time)) this.#handlers.commit(last!, time!)
      return
    }
    let notice: unknown
    try {
      notice = JSON.parse(payload)
    } catch {
      return
    }
    if (!Array.isArray(notice) || notice.length !== 3 || notice[0] === this.#instance) return
    const [, topic, message] = notice as [string, unknown, unknown]
    if (typeof topic === 'string' && typeof message === 'string') this.#local.notify(topic, message)
  }

  /**
   * The session's connection while it is up and LISTENing, for the writer's one-call appends
   * (writer.ts): a commit's notification to this session then comes back with the commit's
   * answer rather than wake another server process. Statements in autocommit only: a
   * transaction held open on it would hold back notifications, and take in the session's own
   * statements (locks).
   */
  get listening (): pg.Client | undefined {
    return this.#client
  }

  /** Takes the advisory lock of `name` on this connection, if no session holds it. */
  async tryLock (name: string): Promise<Lock | undefined> {
    if (this.#held.has(name)) return undefined
    const key = lockKey(this.#conn.schema, name)
    let lose!: () => void
    const lost = new Promise<void>(resolve => { lose = resolve })
    // taken here before asking: advisory locks are re-entrant within a session
    this.#held.set(name, { key, lose })
    let client: pg.Client
    let ok: boolean
    try {
      client = this.#client ?? await this.#connect()
      ok = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key])).rows[0]!.ok
    } catch (err) {
      this.#held.delete(name)
      throw storageError(err)
    }
    if (!ok || this.#client !== client || this.#held.get(name)?.key !== key) {
      if (this.#held.get(name)?.lose === lose) this.#held.delete(name)
      if (!ok) this.#wanted.add(name)
      return undefined
    }
    this.#wanted.delete(name)
    let released = false
    return {
      name,
      lost,
      release: async () => {
        if (released) return
        released = true
        if (this.#held.get(name)?.lose !== lose) return // lost meanwhile: nothing to unlock
        this.#held.delete(name)
        try {
          await client.query('select pg_advisory_unlock($1::bigint)', [key])
        } catch {} // the connection went: the server let it go with it
        await this.notify('lock-freed', name).catch(() => {})
      }
    }
  }

  /** Sends a notice to every process LISTENing, this one at once. */
  async notify (topic: string, message: string): Promise<void> {
    const payload = JSON.stringify([this.#instance, topic, message])
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) throw new TypeError(`A notice on PostgreSQL holds at most ${MAX_PAYLOAD} bytes with its topic; this one has ${Buffer.byteLength(payload)}`)
    this.#local.notify(topic, message)
    await this.#conn.query('select pg_notify($1, $2)', [this.#conn.channel, payload])
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    return this.#local.onNotice(topic, listener)
  }

  /** Lets every lock go (telling the others), stops listening and ends the connection. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#timer)
    clearInterval(this.#lockTimer)
    clearTimeout(this.#retry)
    const client = this.#client
    const names = [...this.#held.keys()]
    this.#held.clear()
    if (client !== undefined) {
      this.#client = undefined
      try {
        await client.query('select pg_advisory_unlock_all()')
      } catch {}
      await client.end().catch(() => {})
    }
    for (const name of names) {
      try {
        await this.#conn.query('select pg_notify($1, $2)', [this.#conn.channel, JSON.stringify([this.#instance, 'lock-freed', name])])
      } catch {}
    }
  }
}

/** The advisory lock key of a name in a schema: 64 bits of a hash of both. */
function lockKey (schema: string, name: string): string {
  const digest = createHash('sha256').update(`annals\u0000${schema}\u0000${name}`).digest()
  return digest.readBigInt64BE(0).toString()
}
