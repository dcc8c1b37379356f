// Drives test/fixtures/pg-child.mjs: a process of its own on a PostgreSQL database, doing what it
// is asked, one command at a time or many at once.
import type { ChildProcess } from 'node:child_process'
import { startChild } from './child.js'

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
    let c: PgChild | undefined
    // what it says before `c` exists (nothing, as it speaks only when asked, but in case)
    const early: string[] = []
    const child = await startChild('pg-child.mjs', [url, schema], line => {
      if (c === undefined) early.push(line)
      else c.#answer(JSON.parse(line) as { id?: number, result?: unknown, error?: string } & Heard)
    }, { stdin: true })
    c = new PgChild(child)
    for (const line of early) c.#answer(JSON.parse(line) as { id?: number, result?: unknown, error?: string } & Heard)
    const started = c
    child.once('exit', code => {
      for (const p of started.#pending.values()) p.reject(new Error(`pg-child exited with ${String(code)}`))
      started.#pending.clear()
    })
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
