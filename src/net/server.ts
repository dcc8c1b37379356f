// The owner's side of the socket: it admits clients that present the token of the owner file
// (and prove the master key, when there is one), serves their requests on its own backend
// (serve.ts), pushes them its commits and notices, and keeps their locks until they go away.
//
// Leaving (close): the owner file and the socket go first, so that no new client comes; each
// client is told ('bye'), and requests that arrive after that are refused unread (the client
// sends them again to the next owner); the requests already taken are answered; then the
// connections close and the client's locks are freed.
import { chmodSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import type { Lock } from '../backend/backend.js'
import { AnnalsError } from '../errors.js'
import type { LevelBackend } from '../backend/level/level-backend.js'
import type { SnapshotStorage } from '../backend/level/snapshot.js'
import type { EventChunks, StreamSummary } from '../backend/backend.js'
import type { RecordChunks } from '../backend/level/stored-records.js'
import type { ChunkIterator } from '../storage/storage.js'
import type { KeyStore } from '../privacy/key-store.js'
import { checkCredentials, newNonce, type Credentials } from './auth.js'
import { newToken, removeOwner, removeStaleSocket, socketPath, writeOwner } from './paths.js'
import { handlers } from './serve.js'
import { FrameReader, OLDEST_PROTOCOL, PROTOCOL, encodeError, frame } from './wire.js'

/** What the owner serves, besides its backend. */
export interface Served {
  readonly backend: LevelBackend
  /** the owner's key store, opened on first use; undefined when it has none */
  keyStore (): KeyStore | undefined
  /** the master key its key store is wrapped under now */
  masterKey (): Uint8Array | undefined
  rotateMasterKey (masterKey: Uint8Array | undefined): Promise<void>
  /** a consistent copy of the database (and its key store) at `dest` */
  backup (dest: string): Promise<void>
}

/** A read a client has open: of events, or of the log's records. */
export type Chunks = EventChunks | RecordChunks

/** How long a leaving owner waits for the requests it took, in ms. */
const LEAVE_MS = 10_000

/** One client, as the owner sees it. */
export class Client {
  readonly socket: Socket
  /** open reads and scans, by id; `page`: how a read's chunks cross (serve.ts) */
  readonly iterators = new Map<number, { events?: Chunks, page?: (items: unknown[]) => unknown, storage?: ChunkIterator<unknown>, streams?: AsyncIterator<StreamSummary> }>()
  readonly locks = new Map<number, Lock>()
  readonly topics = new Set<string>()
  readonly snapshots = new Map<number, SnapshotStorage>()
  readonly acks = new Map<number, () => void>()
  nextId = 1
  admitted = false
  /** the version of the protocol it speaks, set when it is admitted */
  protocol = PROTOCOL
  leaving = false
  #inflight = 0
  #idle: (() => void) | undefined
  #corked = false
  /** its appends not yet answered */
  appending = 0
  /** commits not yet pushed to it, while it has appends under way: first, last, head position, head time */
  #deferred: [number, number, number, number] | undefined

  constructor (socket: Socket) {
    this.socket = socket
  }

  /**
   * Pushes a commit, or keeps it for the next message while the client has appends under way:
   * their answers come soon, and a batch that wakes every client for a commit only the head
   * of each needs cost more than the appends (measured: 3 in 4 of the owner's writes were
   * such pushes, and every one woke a process on a busy machine). Commits kept are pushed as
   * one (their positions follow on), before anything else goes to the client, so it still
   * hears of every commit before the answer to an append the commit includes, and in order
   * with its other pushes.
   */
  commit (first: number, last: number, position: number, time: number): void {
    if (this.appending === 0) {
      this.send([0, 'commit', first, last, position, time])
    } else if (this.#deferred === undefined) {
      this.#deferred = [first, last, position, time]
    } else {
      this.#deferred[1] = last
      this.#deferred[2] = position
      this.#deferred[3] = time
    }
  }

  send (message: unknown[]): void {
    if (this.socket.destroyed) return
    if (this.#deferred !== undefined) {
      const [first, last, position, time] = this.#deferred
      this.#deferred = undefined
      this.#write([0, 'commit', first, last, position, time])
    }
    this.#write(message)
  }

  #write (message: unknown[]): void {
    if (!this.#corked) {
      this.#corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.#corked = false
        this.socket.uncork()
      })
    }
    this.socket.write(frame(message))
  }

  started (): void {
    this.#inflight++
  }

  ended (): void {
    if (--this.#inflight === 0) this.#idle?.()
  }

  /** Resolves once no request of this client is being carried out. */
  async idle (): Promise<void> {
    if (this.#inflight === 0) return
    await new Promise<void>(resolve => { this.#idle = resolve })
  }
}

export class OwnerServer {
  readonly #dir: string
  readonly #served: Served
  readonly #server: Server
  readonly #path: string
  readonly #token: string
  readonly #clients = new Set<Client>()
  readonly #stopCommits: () => void
  readonly #stopFreed: () => void
  #nextNotice = 1
  #closing: Promise<void> | undefined

  private constructor (dir: string, served: Served, server: Server, path: string, token: string) {
    this.#dir = dir
    this.#served = served
    this.#server = server
    this.#path = path
    this.#token = token
    const backend = served.backend
    this.#stopCommits = backend.onCommit((first, last) => {
      const head = backend.head
      for (const c of this.#clients) if (c.admitted) c.commit(first, last, head.position, head.time)
    })
    // locks freed here (by this process, or by a client that went away) may be wanted there
    this.#stopFreed = backend.coordination.onNotice('lock-freed', name => { this.#forward('lock-freed', name) })
    server.on('connection', socket => { this.#admit(socket) })
  }

  /**
   * Listens on the database's socket and writes the owner file. Call only while holding the
   * folder's lock (the LevelDB open): a socket or owner file left there is an old owner's.
   */
  static async start (dir: string, served: Served): Promise<OwnerServer> {
    const path = socketPath(dir)
    // the owner file first: a client that reads the file of the owner before gets this one's
    // token when it tries again, not a refusal at each try
    const token = newToken()
    writeOwner(dir, { pid: process.pid, socket: path, token })
    removeStaleSocket(path)
    const server = createServer()
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(path, () => { server.off('error', reject); resolve() })
      })
      chmodSync(path, 0o600)
    } catch (err) {
      removeOwner(dir)
      server.close()
      throw err
    }
    return new OwnerServer(dir, served, server, path, token)
  }

  get served (): Served {
    return this.#served
  }

  /** How many clients are connected. */
  get clients (): number {
    return this.#clients.size
  }

  /**
   * A notice to every process: this one's listeners, and every client listening to the topic.
   * Resolves once each of those clients has taken it (or gone away).
   */
  async notify (topic: string, message: string): Promise<void> {
    this.#served.backend.coordination.notify(topic, message)
    await this.#forward(topic, message)
  }

  #forward (topic: string, message: string): Promise<void> {
    const taken: Array<Promise<void>> = []
    for (const c of this.#clients) {
      if (!c.admitted || !c.topics.has(topic)) continue
      const id = this.#nextNotice++
      taken.push(new Promise<void>(resolve => c.acks.set(id, resolve)))
      c.send([0, 'notice', id, topic, message])
    }
    return Promise.all(taken).then(() => {})
  }

  /** Stops taking clients, answers what they asked, lets them go. Idempotent. */
  async close (): Promise<void> {
    this.#closing ??= this.#close()
    await this.#closing
  }

  async #close (): Promise<void> {
    removeOwner(this.#dir)
    const stopped = new Promise<void>(resolve => this.#server.close(() => { resolve() }))
    removeStaleSocket(this.#path)
    for (const c of this.#clients) {
      c.leaving = true
      c.send([0, 'bye'])
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.#clients].map(async c => { await c.idle() })),
      new Promise(resolve => { timer = setTimeout(resolve, LEAVE_MS) })
    ])
    clearTimeout(timer)
    await Promise.all([...this.#clients].map(async c => { await this.#drop(c, true) }))
    this.#stopCommits()
    this.#stopFreed()
    await stopped
  }

  #admit (socket: Socket): void {
    const client = new Client(socket)
    this.#clients.add(client)
    const reader = new FrameReader()
    const nonce = newNonce()
    socket.on('error', () => {})
    socket.on('close', () => { void this.#drop(client, false) })
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[]
      try {
        messages = reader.push(chunk)
      } catch {
        socket.destroy()
        return
      }
      for (const m of messages) this.#receive(client, m as unknown[], nonce)
    })
    if (this.#closing !== undefined) {
      socket.destroy()
      return
    }
    // the oldest version first, where clients of protocol 2 look (they take only it), then the newest
    client.send(['hi', OLDEST_PROTOCOL, nonce, PROTOCOL])
  }

  #receive (client: Client, m: unknown[], nonce: string): void {
    if (!client.admitted) {
      const [kind, version, token, proof] = m as [string, number, string, Buffer | null]
      try {
        if (kind !== 'auth' || !(Number.isInteger(version) && version >= OLDEST_PROTOCOL && version <= PROTOCOL)) {
          throw new AnnalsError('ANNALS_LOCKED', `The client speaks protocol ${String(version)}, the process that holds the database ${OLDEST_PROTOCOL} to ${PROTOCOL}: run the same version of annals`)
        }
        const credentials: Credentials = { token, proof }
        checkCredentials(credentials, this.#token, this.#served.masterKey(), nonce)
      } catch (err) {
        client.send(['refused', encodeError(err)])
        client.socket.end()
        return
      }
      client.admitted = true
      client.protocol = version
      const head = this.#served.backend.head
      client.send(['welcome', head.position, head.time])
      return
    }
    const id = m[0] as number
    if (id === 0) {
      if (m[1] === 'ack') {
        const ack = client.acks.get(m[2] as number)
        client.acks.delete(m[2] as number)
        ack?.()
      }
      return
    }
    if (client.leaving) {
      client.send([id, 2])
      return
    }
    const handler = handlers[m[1] as string]
    if (handler === undefined) {
      client.send([id, 1, encodeError(new TypeError(`Unknown request '${String(m[1])}'`))])
      return
    }
    client.started()
    // commits are kept for a client while its appends are under way (Client.commit)
    const append = m[1] === 'append' || m[1] === 'appendMany'
    if (append) client.appending++
    const answer = (message: unknown[]): void => {
      try {
        client.send(message)
      } finally {
        if (append) client.appending--
        client.ended()
      }
    }
    let result: unknown
    try {
      result = handler(this, client, m.slice(2))
    } catch (err) {
      answer([id, 1, encodeError(err)])
      return
    }
    if (result instanceof Promise) {
      result.then(value => { answer([id, 0, value ?? null]) }, (err: unknown) => { answer([id, 1, encodeError(err)]) })
    } else {
      answer([id, 0, result ?? null])
    }
  }

  /** A client went away (or is let go): its iterators close, its locks are freed. */
  async #drop (client: Client, end: boolean): Promise<void> {
    if (!this.#clients.delete(client)) return
    for (const ack of client.acks.values()) ack()
    client.acks.clear()
    this.#served.backend.coordination.releaseAll(client)
    const closing: Array<Promise<void>> = []
    for (const it of client.iterators.values()) {
      closing.push((it.events?.close() ?? it.storage?.close() ?? it.streams?.return?.().then(() => {}) ?? Promise.resolve()).catch(() => {}))
    }
    client.iterators.clear()
    for (const s of client.snapshots.values()) closing.push(s.close())
    client.snapshots.clear()
    await Promise.all(closing)
    if (end && !client.socket.destroyed) {
      const closed = new Promise(resolve => client.socket.once('close', resolve))
      client.socket.end()
      await closed
    }
  }
}
