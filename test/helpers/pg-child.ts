// Drives test/fixtures/pg-child.mjs: a process of its own on a PostgreSQL database, doing what it
// is asked, one command at a time or many at once.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertBuilt } from './child.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface Heard {
  ack?: { id: string, stream: string, size: number, revision: number, position: number }
  notice?: string
  message?: string
  lost?: string
  commit?: [number, number]
}

export class PgChild {
  readonly process: ChildProcess
  readonly heard: Heard[] = []
  readonly #pending = new Map<number, { resolve: (value: unknown) => void, reject: (err: Error) => void }>()
  #next = 0

  private constructor (child: ChildProcess) {
    this.process = child
  }

  /** Starts a child on `schema` of the database at `url`; resolves once it has opened it. */
  static async start (url: string, schema: string): Promise<PgChild> {
    assertBuilt()
    const child = spawn(process.execPath, [join(root, 'test', 'fixtures', 'pg-child.mjs'), url, schema], { stdio: ['pipe', 'pipe', 'inherit'] })
    const c = new PgChild(child)
    let buffered = ''
    let ready!: () => void
    let failed!: (err: Error) => void
    const started = new Promise<void>((resolve, reject) => { ready = resolve; failed = reject })
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as unknown
        buffered = buffered.slice(nl + 1)
        if (line === 'ready') ready()
        else c.#answer(line as { id?: number, result?: unknown, error?: string } & Heard)
      }
    })
    child.once('exit', code => {
      failed(new Error(`pg-child exited with ${String(code)} before it was ready`))
      for (const p of c.#pending.values()) p.reject(new Error(`pg-child exited with ${String(code)}`))
      c.#pending.clear()
    })
    await started
    return c
  }

  #answer (line: { id?: number, result?: unknown, error?: string } & Heard): void {
    if (line.id === undefined) {
      this.heard.push(line)
      return
    }
    const p = this.#pending.get(line.id)
    this.#pending.delete(line.id)
    if (line.error !== undefined) p?.reject(Object.assign(new Error(line.error), { code: line.error }))
    else p?.resolve(line.result)
  }

  /** Sends a command; resolves with its result, rejects with an error whose `code` is the child's. */
  async ask<T = unknown> (op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++
    const answered = new Promise<T>((resolve, reject) => { this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject }) })
    this.process.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n')
    return await answered
  }

  /** Kills it with SIGKILL and waits until it is gone. */
  async kill (): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    const closed = new Promise(resolve => this.process.once('close', resolve))
    this.process.kill('SIGKILL')
    await closed
  }

  /** Closes its database and waits for it to exit. */
  async close (): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    const closed = new Promise(resolve => this.process.once('close', resolve))
    await this.ask('close').catch(() => {})
    await closed
  }
}

/** Waits until `check` holds, polling every few ms (at most `ms`). */
export async function until (check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return true
}
