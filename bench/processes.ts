// Many processes, one database (issue 12): what going through the owner's socket costs a
// client, beside the owner doing the same in its own process, in the same runs. Appends: 64
// concurrent single appends spread over 4 client processes (16 callers each) against the same
// 64 in the owner's process; reads: a client's replay of the log and its read of a
// 10,000-event stream against the owner's. And failover: the owner process killed with
// SIGKILL while two clients append, to the first append acknowledged on the new owner (one of
// the two), once per run. Each client times itself (bench/process-worker.ts); this process
// is the owner of every database but the failover's.
import { fork, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open, type Annals } from '../src/index.js'
import type { Config } from './options.js'
import { concurrently, eventMaker, freshDir, timed, timedRead, wallClock, type SampleEvent } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { Command, Reply } from './process-worker.js'

const here = fileURLToPath(new URL('.', import.meta.url))

/** Client processes the appends are spread over, and concurrent callers in all. */
const PROCESSES = 4
const CALLERS = 64
/** How long the clients append before the owner is killed, in ms. */
const CHURN_MS = 150

/** A worker process, told one command at a time. */
class Worker {
  readonly #child: ChildProcess
  readonly #replies: Reply[] = []
  #wake: (() => void) | undefined
  #exited = false

  constructor (shape: Config['shape']) {
    this.#child = fork(join(here, 'process-worker.js'), [JSON.stringify(shape)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#child.on('message', (r: Reply) => {
      this.#replies.push(r)
      this.#wake?.()
    })
    this.#child.once('exit', () => {
      this.#exited = true
      this.#wake?.()
    })
  }

  /** Sends `c`; resolves with the next reply of the type `type` (rejects on a failure or the worker's exit). */
  async ask<T extends Reply['type']> (c: Command, type: T, ms = 60_000): Promise<Extract<Reply, { type: T }>> {
    this.#child.send(c)
    return await this.next(type, ms)
  }

  /** The next reply of the type `type`, within `ms`. */
  async next<T extends Reply['type']> (type: T, ms = 60_000): Promise<Extract<Reply, { type: T }>> {
    const deadline = Date.now() + ms
    for (;;) {
      const failed = this.#replies.find(r => r.type === 'failed')
      if (failed !== undefined) throw new Error(`a worker failed: ${(failed as { message: string }).message}`)
      const at = this.#replies.findIndex(r => r.type === type)
      if (at >= 0) return this.#replies.splice(at, 1)[0] as Extract<Reply, { type: T }>
      if (this.#exited) throw new Error(`a worker exited before it answered '${type}'`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`a worker did not answer '${type}' in ${ms} ms`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = undefined
    }
  }

  /** Forgets the replies of the type `type` not yet taken. */
  drop (type: Reply['type']): void {
    for (let at; (at = this.#replies.findIndex(r => r.type === type)) >= 0;) this.#replies.splice(at, 1)
  }

  /** Kills it with SIGKILL; resolves once it is gone. */
  async kill (): Promise<void> {
    if (this.#exited) return
    const gone = new Promise(resolve => this.#child.once('exit', resolve))
    this.#child.kill('SIGKILL')
    await gone
  }

  /** Lets it exit (it exits when the IPC channel closes). */
  async stop (): Promise<void> {
    if (this.#exited) return
    const gone = new Promise(resolve => this.#child.once('exit', resolve))
    this.#child.disconnect()
    await gone
  }
}

/** 64 concurrent appends of events `from`… in this process. */
async function appendHere (db: Annals, event: (i: number) => SampleEvent, from: number, count: number): Promise<void> {
  await concurrently(count, CALLERS, async k => {
    const e = event(from + k)
    await db.append(e.stream, { type: e.type, data: e.data })
  })
}

/** A log of `events` events, the stream `reads-stream` every tenth of them, written by this process. */
async function buildLog (dir: string, event: (i: number) => SampleEvent, events: number): Promise<void> {
  const db = await open(dir)
  try {
    for (let i = 0; i < events; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, events - i) }, async (_, k) => {
        const e = event(i + k)
        const stream = (i + k) % 10 === 0 ? 'reads-stream' : e.stream
        await db.append(stream, { type: e.type, data: e.data })
      }))
    }
  } finally {
    await db.close()
  }
}

export async function processWorkloads (config: Config): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const event = eventMaker(config.shape)
  const events = config.sizes.appends
  // the read log: ten times the stream read, a 10,000-event stream in a full or quick run
  const streamEvents = config.mode === 'tiny' ? 300 : 10_000
  const logEvents = streamEvents * 10
  // one worker reads (a client of the read log all along), the others append
  const reader = new Worker(config.shape)
  const workers = Array.from({ length: PROCESSES }, () => new Worker(config.shape))
  const readDir = freshDir('p-reads')
  await buildLog(readDir, event, logEvents)
  // this process owns the read log; a worker reads it as a client
  const reading = await open(readDir)
  const opened = await reader.ask({ cmd: 'open', dir: readDir }, 'opened')
  if (opened.role !== 'client') throw new Error('the reading worker opened the log as its owner')

  const clientRead = (c: Command & { events: number }) => async (): Promise<Timing> => {
    const r = await reader.ask(c, 'read')
    return { events: r.events, ms: r.ms }
  }
  const ownerRead = (read: () => AsyncIterable<unknown>, n: number) => async (): Promise<Timing> => await timedRead(n, async () => {
    let count = 0
    for await (const _ of read()) count++
    return count
  })

  // appends: the owner (this process) takes nothing but the clients' appends
  let round = 0
  const clientAppends = async (): Promise<Timing> => {
    const dir = freshDir(`p-appends-${round++}`)
    const owner = await open(dir)
    const appenders = workers
    try {
      for (const w of appenders) {
        const r = await w.ask({ cmd: 'open', dir }, 'opened')
        if (r.role !== 'client') throw new Error('an appending worker opened the database as its owner')
      }
      const share = Math.ceil(events / PROCESSES)
      const done = await Promise.all(appenders.map(async (w, k) => await w.ask({
        cmd: 'append', from: k * share, count: Math.min(share, events - k * share), concurrency: CALLERS / PROCESSES
      }, 'appended')))
      const ms = Math.max(...done.map(d => d.end)) - Math.min(...done.map(d => d.start))
      return { events, ms }
    } finally {
      // close the clients first, so that none takes the folder over when its owner closes
      for (const w of appenders) await w.ask({ cmd: 'close' }, 'closed')
      await owner.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const ownerAppends = async (): Promise<Timing> => {
    const dir = freshDir(`p-appends-${round++}`)
    const owner = await open(dir)
    try {
      return await timed(events, async () => { await appendHere(owner, event, 0, events) })
    } finally {
      await owner.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }

  // failover: an owner process killed while two clients append
  const failover = async (): Promise<Timing> => {
    const dir = freshDir(`p-failover-${round++}`)
    const owner = new Worker(config.shape)
    const clients = workers.slice(0, 2)
    let winner = -1
    try {
      const first = await owner.ask({ cmd: 'open', dir }, 'opened')
      if (first.role !== 'owner') throw new Error('the first process did not open the folder as its owner')
      for (const c of clients) await c.ask({ cmd: 'open', dir }, 'opened')
      await owner.ask({ cmd: 'churn' }, 'churning')
      for (const c of clients) {
        await c.ask({ cmd: 'churn' }, 'churning')
        c.drop('owned')
        await c.ask({ cmd: 'watch' }, 'watching')
      }
      await new Promise(resolve => setTimeout(resolve, CHURN_MS))
      const killed = wallClock()
      await owner.kill()
      const owned = await Promise.any(clients.map(async (c, k) => {
        const r = await c.next('owned', 20_000)
        winner = k
        return r
      }))
      const ms = owned.at - killed
      return { events: 1, ms, medianMs: ms }
    } finally {
      await owner.kill()
      // the client that is still one first, then the new owner: no take-over on the way
      for (const c of winner === 0 ? [...clients].reverse() : clients) await c.ask({ cmd: 'close' }, 'closed')
      rmSync(dir, { recursive: true, force: true })
    }
  }

  return {
    workloads: [
      {
        name: `append 1 event, ${CALLERS} concurrent, spread over ${PROCESSES} client processes`,
        unit: 'events',
        raw: `annals, ${CALLERS} concurrent in the owner's process`,
        target: 0.5,
        annals: clientAppends,
        baseline: ownerAppends
      },
      {
        name: `a client process replays the log (readAll, ${logEvents.toLocaleString('en-US')} events)`,
        unit: 'events',
        raw: 'annals, the owner replaying it',
        target: 0.5,
        annals: clientRead({ cmd: 'readAll', events: logEvents }),
        baseline: ownerRead(() => reading.readAll(), logEvents)
      },
      {
        name: `a client process reads a ${streamEvents.toLocaleString('en-US')}-event stream`,
        unit: 'events',
        raw: 'annals, the owner reading it',
        target: 0.5,
        annals: clientRead({ cmd: 'readStream', stream: 'reads-stream', events: streamEvents }),
        baseline: ownerRead(() => reading.readStream('reads-stream'), streamEvents)
      },
      {
        name: 'failover: the owner process killed (SIGKILL) to the first append acknowledged on the new owner',
        unit: 'ops',
        maxMs: 500,
        annals: failover
      }
    ],
    close: async () => {
      await reader.ask({ cmd: 'close' }, 'closed').catch(() => {})
      await Promise.all([reader, ...workers].map(async w => { await w.stop() }))
      await reading.close()
      rmSync(readDir, { recursive: true, force: true })
    }
  }
}
