// The child process of the write-fault tests (test/faults-disk-full, -eio, -compaction):
// fixtures/faults/fault-child.mjs appends as told and reports each acknowledged and each failed
// append; checkReopened then opens the database in this process (a fresh one) and checks that
// every acknowledged append is there and nothing else. Public API only, whatever the format.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open, type RecordedEvent } from '../../src/index.js'
import { collect } from './backends.js'
import { assertBuilt } from './child.js'

const fixtures = fileURLToPath(new URL('../fixtures/faults', import.meta.url))

/** An acknowledged append, as the child reported it. */
export interface Ack {
  id: string
  stream: string
  events: number
  revision: number
  position: number
}

/** A failed append, as the child reported it. */
export interface Fail {
  id: string
  stream: string
  events: number
  code: string | null
  message: string
}

/** What one `append` command did. */
export interface Appended {
  acks: Ack[]
  fails: Fail[]
}

/** Options of {@link FaultChild.append}. */
export interface AppendSpec {
  /** Ids are `<tag>-<i>`; tags must differ between commands. */
  tag: string
  count: number
  concurrency?: number
  /** Start no new append once this many failed (those under way finish). */
  stopAfterFailures?: number
  /** Rough size of each event's data, in bytes. */
  size?: number
}

type Reply = Record<string, unknown>

/** An error as a child reports it. */
export interface ChildError {
  code: string | null
  message: string
  /** whether it had a `cause` */
  cause?: boolean
}

/** How long a command may take before the child is killed. */
const COMMAND_TIMEOUT = 60_000

/** fixtures/faults/fault-child.mjs, driven one command at a time. */
export class FaultChild {
  /** Every append acknowledged, in the order reported. */
  readonly acks: Ack[] = []
  /** Every append that failed. */
  readonly fails: Fail[] = []
  readonly #child: ChildProcess
  readonly #exited: Promise<number | null>
  #stderr = ''
  #waiting: ((reply: Reply) => void) | undefined
  #current: Appended = { acks: [], fails: [] }

  private constructor (child: ChildProcess) {
    this.#child = child
    this.#exited = new Promise(resolve => child.once('exit', code => { resolve(code) }))
    let buffered = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        this.#line(JSON.parse(line) as Reply)
      }
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => { this.#stderr = (this.#stderr + chunk).slice(-4000) })
  }

  /**
   * Starts a child: fixtures/faults/fault-child.mjs, or `script` of that folder (level-child.mjs
   * drives raw classic-level). `env` adds to its environment (e.g. {@link IoFaults.env}), `user`
   * runs it as that uid and gid.
   */
  static start (options: { script?: string, env?: Record<string, string>, user?: { uid: number, gid: number } } = {}): FaultChild {
    assertBuilt()
    const child = spawn(process.execPath, [join(fixtures, options.script ?? 'fault-child.mjs')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      ...options.user
    })
    return new FaultChild(child)
  }

  /** What the child wrote on standard error lately (for failure messages). */
  get stderr (): string {
    return this.#stderr
  }

  /** Opens annals in the child: `null` when it opened, else its error. */
  async open (dir: string, sync = false): Promise<ChildError | null> {
    const reply = await this.command({ cmd: 'open', dir, sync })
    if (reply.opened === true) return null
    return reply.openError as ChildError
  }

  /** Runs appends in the child; resolves with what this command acknowledged and failed. */
  async append (spec: AppendSpec): Promise<Appended> {
    this.#current = { acks: [], fails: [] }
    await this.command({ cmd: 'append', ...spec, stopAfterFailures: spec.stopAfterFailures ?? null })
    return this.#current
  }

  /** Closes the database; resolves with the error's code, or null when close resolved. Waits for the exit. */
  async close (): Promise<ChildError | null> {
    const reply = await this.command({ cmd: 'close' })
    await this.#exited
    return reply.closed === true ? null : reply.closeError as ChildError
  }

  /** Kills the child (if still running) and waits for it. */
  async kill (): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    await this.#exited
  }

  #line (reply: Reply): void {
    if (reply.ack !== undefined) {
      this.acks.push(reply.ack as Ack)
      this.#current.acks.push(reply.ack as Ack)
    } else if (reply.fail !== undefined) {
      this.fails.push(reply.fail as Fail)
      this.#current.fails.push(reply.fail as Fail)
    } else {
      const waiting = this.#waiting
      this.#waiting = undefined
      waiting?.(reply)
    }
  }

  /** Sends one command; resolves with the child's answer (acks and fails aside). */
  async command (command: Record<string, unknown>): Promise<Reply> {
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#child.kill('SIGKILL')
        reject(new Error(`the child did not answer ${String(command.cmd)} within ${COMMAND_TIMEOUT / 1000} s (killed); stderr: ${this.#stderr}`))
      }, COMMAND_TIMEOUT)
      this.#waiting = r => { clearTimeout(timer); resolve(r) }
      void this.#exited.then(code => {
        clearTimeout(timer)
        reject(new Error(`the child exited (${String(code)}) during ${String(command.cmd)}; stderr: ${this.#stderr}`))
      })
    })
    this.#child.stdin!.write(JSON.stringify(command) + '\n')
    return await reply
  }
}

// The events the child writes (keep in step with fixtures/faults/fault-child.mjs).
function eventsOf (i: number): number {
  return i % 4 === 3 ? 3 : 1
}

function pad (id: string, size: number): string {
  let out = ''
  for (let k = 0; out.length < size; k++) out += createHash('sha256').update(`${id}#${k}`).digest('hex')
  return out.slice(0, size)
}

/** The data, metadata and type of event `k` of append `<tag>-<i>`, as the child wrote it. */
function expectedEvent (tag: string, i: number, k: number, size: number): { type: string, data: unknown, metadata: unknown } {
  const n = eventsOf(i)
  return { type: 'Written', data: { tag, i, k, pad: pad(`${tag}-${i}/${k}`, size + (i * 37) % size) }, metadata: { of: n } }
}

/** The size given to each tag's append command, for {@link checkReopened}. */
export type Sizes = Record<string, number>

function sameJson (a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Opens the database at `path` in this process (a fresh one: the child has exited) and checks:
 * it opens; positions run from 0 without gaps; every acknowledged append is there whole, at its
 * stream, revisions and positions, with its data; no event is there that was not acknowledged
 * (so none of a failed append); every stream reads the same through its index as in the log.
 * Returns the problems found (empty when all is well), the first 20 of each kind.
 */
export async function checkReopened (path: string, acks: Ack[], sizes: Sizes): Promise<string[]> {
  const problems: string[] = []
  let db
  try {
    db = await open(path)
  } catch (err) {
    return [`the database does not open: ${String((err as { code?: string }).code)} ${(err as Error).message}`]
  }
  try {
    let all: RecordedEvent[]
    try {
      all = await collect(db.readAll())
    } catch (err) {
      return [`readAll rejects: ${String((err as { code?: string }).code)} ${(err as Error).message}`]
    }
    const gaps: string[] = []
    all.forEach((e, i) => { if (e.position !== i) gaps.push(`position ${e.position} at index ${i}`) })
    problems.push(...limit(gaps, 'positions out of place'))
    const byId = new Map(all.map(e => [e.id, e]))
    const lost: string[] = []
    const wrong: string[] = []
    const expectedIds = new Set<string>()
    for (const a of acks) {
      const tag = a.id.slice(0, a.id.lastIndexOf('-'))
      const i = Number(a.id.slice(a.id.lastIndexOf('-') + 1))
      for (let k = 0; k < a.events; k++) {
        const id = `${a.id}/${k}`
        expectedIds.add(id)
        const e = byId.get(id)
        const position = a.position - a.events + 1 + k
        const revision = a.revision - a.events + 1 + k
        if (e === undefined) {
          lost.push(`${id} (acknowledged at ${a.stream}@${revision}, position ${position})`)
          continue
        }
        const want = expectedEvent(tag, i, k, sizes[tag] ?? 200)
        if (e.stream !== a.stream || e.position !== position || e.revision !== revision) {
          wrong.push(`${id} is at ${e.stream}@${e.revision}, position ${e.position}, acknowledged at ${a.stream}@${revision}, position ${position}`)
        } else if (e.type !== want.type || !sameJson(e.data, want.data) || !sameJson(e.metadata, want.metadata)) {
          wrong.push(`${id} reads back with other content`)
        }
      }
    }
    problems.push(...limit(lost, 'acknowledged events lost'))
    problems.push(...limit(wrong, 'acknowledged events misplaced or altered'))
    const unacknowledged = all.filter(e => !expectedIds.has(e.id)).map(e => `${e.id} at position ${e.position}`)
    problems.push(...limit(unacknowledged, 'events present that were never acknowledged (failed appends)'))
    for (const stream of new Set([...all.map(e => e.stream), ...acks.map(a => a.stream)])) {
      let read: RecordedEvent[]
      try {
        read = await collect(db.readStream(stream))
      } catch (err) {
        problems.push(`readStream(${stream}) rejects: ${String((err as { code?: string }).code)}`)
        continue
      }
      if (!sameJson(read, all.filter(e => e.stream === stream))) problems.push(`the index of ${stream} disagrees with the log`)
      if (!read.every((e, i) => e.revision === i)) problems.push(`${stream} has a revision gap`)
    }
  } finally {
    await db.close().catch((err: unknown) => { problems.push(`close after the check rejects: ${String((err as { code?: string }).code)}`) })
  }
  return problems
}

function limit (items: string[], what: string): string[] {
  if (items.length === 0) return []
  return [`${items.length} ${what}: ${items.slice(0, 20).join('; ')}${items.length > 20 ? '; ...' : ''}`]
}
