// A client's connection to the owner: requests answered by id, and what the owner pushes
// (commits, notices, its leaving). When the connection goes away, every request without an
// answer fails with Disconnected, which says whether the owner may have carried it out.
import { connect, type Socket } from 'node:net'
import { AnnalsError } from '../errors.js'
import { keyProof } from './auth.js'
import { FrameReader, OLDEST_PROTOCOL, PROTOCOL, decodeError, frame } from './wire.js'

/**
 * The connection went away before an answer came. `executed`: whether the owner may have
 * carried the request out (`false` when it refused it unread, as it does once it is leaving).
 */
export class Disconnected extends Error {
  readonly executed: boolean

  constructor (executed: boolean, cause?: unknown) {
    super('The connection to the process that owns the database went away', cause === undefined ? undefined : { cause })
    this.executed = executed
  }
}

/** What the owner says of itself once it admits a client. */
export interface Welcome {
  head: { position: number, time: number }
}

/** What the owner pushes: 'commit' (first, last, head position, head time), 'notice' (id, topic, message), 'bye'. */
export type Push = (kind: string, args: unknown[]) => void

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

/** How long a client waits for the owner to admit it, in ms. */
const HANDSHAKE_MS = 5000

export class Connection {
  readonly #socket: Socket
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #corked = false
  #closed = false
  #push: Push = () => {}
  #onClose: () => void = () => {}
  readonly closed: Promise<void>

  /** The version of the protocol spoken with the owner: the newest both know. */
  readonly protocol: number

  private constructor (socket: Socket, reader: FrameReader, protocol: number) {
    this.#socket = socket
    this.protocol = protocol
    let closed!: () => void
    this.closed = new Promise(resolve => { closed = resolve })
    socket.on('data', (chunk: Buffer) => {
      let messages: unknown[]
      try {
        messages = reader.push(chunk)
      } catch (err) {
        socket.destroy(err as Error)
        return
      }
      for (const m of messages) this.#receive(m as unknown[])
    })
    socket.on('error', () => {}) // 'close' follows
    socket.on('close', () => {
      this.#closed = true
      const pending = [...this.#pending.values()]
      this.#pending.clear()
      for (const p of pending) p.reject(new Disconnected(true))
      closed()
      this.#onClose()
    })
  }

  /**
   * Connects to the owner's socket and presents the credentials. Rejects with the owner's
   * refusal (`ANNALS_ACCESS_DENIED`, `ANNALS_WRONG_KEY`), or with the socket's error when no
   * owner listens there (then `code` is the system's: ECONNREFUSED, ENOENT, ...), or with
   * ANNALS_LOCKED when the owner speaks no version of the protocol up to `newest` that this
   * process speaks (tests give an older `newest`, to be a client of the version before).
   */
  static async open (path: string, token: string, masterKey: Uint8Array | undefined, newest = PROTOCOL): Promise<{ connection: Connection, welcome: Welcome }> {
    const socket = connect(path)
    let protocol = newest
    const reader = new FrameReader()
    return await new Promise((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      const timer = setTimeout(() => fail(Object.assign(new Error('The owner did not answer'), { code: 'ETIMEDOUT' })), HANDSHAKE_MS)
      socket.once('error', fail)
      socket.once('close', () => fail(Object.assign(new Error('The owner closed the connection'), { code: 'ECONNRESET' })))
      const onData = (chunk: Buffer): void => {
        let messages: unknown[]
        try {
          messages = reader.push(chunk)
        } catch (err) {
          fail(err)
          return
        }
        for (const m of messages) {
          const [kind, ...args] = m as [string, ...unknown[]]
          if (kind === 'hi') {
            // the owner's oldest version, and its newest (an owner of protocol 2 says only the one)
            const [oldest, nonce, owners] = args as [number, string, number | undefined]
            protocol = Math.min(newest, owners ?? oldest)
            if (protocol < oldest || protocol < OLDEST_PROTOCOL) {
              const theirs = owners === undefined || owners === oldest ? `${oldest}` : `${oldest} to ${owners}`
              fail(new AnnalsError('ANNALS_LOCKED', `The process that holds the database speaks protocol ${theirs}, this one ${OLDEST_PROTOCOL} to ${newest}: run the same version of annals`))
              return
            }
            socket.write(frame(['auth', protocol, token, masterKey === undefined ? null : keyProof(masterKey, nonce)]))
          } else if (kind === 'welcome') {
            clearTimeout(timer)
            socket.removeAllListeners()
            const [position, time] = args as [number, number]
            const connection = new Connection(socket, reader, protocol)
            resolve({ connection, welcome: { head: { position, time } } })
            // frames that came with the welcome
            const rest = messages.slice(messages.indexOf(m) + 1)
            for (const r of rest) connection.#receive(r as unknown[])
            return
          } else if (kind === 'refused') {
            fail(decodeError(args[0] as Parameters<typeof decodeError>[0]))
            return
          }
        }
      }
      socket.on('data', onData)
    })
  }

  /** Where pushes go; `onClose` is called once the connection is gone. */
  listen (push: Push, onClose: () => void): void {
    this.#push = push
    this.#onClose = onClose
    if (this.#closed) queueMicrotask(onClose)
  }

  get isClosed (): boolean {
    return this.#closed
  }

  /** Sends a request; resolves with the answer, rejects with the owner's error or Disconnected. */
  request (method: string, ...args: unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Disconnected(false))
    const id = this.#nextId++
    const answer = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.#send([id, method, ...args])
    return answer
  }

  /** Sends a message that has no answer. */
  tell (...message: unknown[]): void {
    if (!this.#closed) this.#send([0, ...message])
  }

  /** Closes the connection once what was sent is written. */
  async close (): Promise<void> {
    if (!this.#closed) this.#socket.end()
    await this.closed
  }

  /** Drops the connection at once (tests of failover). */
  destroy (): void {
    this.#socket.destroy()
  }

  #send (message: unknown[]): void {
    // messages of one turn of the event loop leave in one write
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      process.nextTick(() => {
        this.#corked = false
        this.#socket.uncork()
      })
    }
    this.#socket.write(frame(message))
  }

  #receive (m: unknown[]): void {
    const id = m[0] as number
    if (id === 0) {
      this.#push(m[1] as string, m.slice(2))
      return
    }
    const pending = this.#pending.get(id)
    if (pending === undefined) return
    this.#pending.delete(id)
    const status = m[1] as number
    if (status === 0) pending.resolve(m[2])
    else if (status === 2) pending.reject(new Disconnected(false)) // the owner is leaving: it did not carry it out
    else pending.reject(decodeError(m[2] as Parameters<typeof decodeError>[0]))
  }
}
