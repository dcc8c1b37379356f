// A process of the multi-process workloads (bench/processes.ts): opens database folders it is
// told of (as a client of the process that holds them, or as the owner when none does) and
// does what it is told over the IPC channel, timing itself, so that no figure counts the trip
// of a command. bench/processes.ts forks it as `process-worker.js <shape as JSON>`.
import { open, type Annals } from '../src/index.js'
import { concurrently, eventMaker, wallClock, type Shape } from './lib.js'

/** What a worker is told. */
export type Command =
  | { cmd: 'open', dir: string }
  | { cmd: 'append', from: number, count: number, concurrency: number }
  | { cmd: 'readAll', events: number }
  | { cmd: 'readStream', stream: string, events: number }
  | { cmd: 'churn' }
  | { cmd: 'watch' }
  | { cmd: 'close' }

/** What a worker answers; times are ms since the epoch, to the microsecond (performance.timeOrigin + now). */
export type Reply =
  | { type: 'opened', role: 'owner' | 'client' }
  | { type: 'appended', start: number, end: number }
  | { type: 'read', events: number, ms: number }
  | { type: 'churning' }
  | { type: 'watching' }
  | { type: 'owned', at: number }
  | { type: 'closed' }
  | { type: 'failed', message: string }

if (process.send !== undefined) {
  const event = eventMaker(JSON.parse(process.argv[2]!) as Shape)
  const send = (r: Reply): void => { process.send!(r) }
  let db: Annals | undefined
  let churning: Promise<void> | undefined
  let stopping = false
  let watching = false
  let owned = false

  /** Appends one event at a time with a few in flight until told to close; tells the first append acknowledged as the owner once watched. */
  async function churn (d: Annals): Promise<void> {
    let i = 0
    const caller = async (): Promise<void> => {
      while (!stopping) {
        const e = event(i++)
        await d.append(e.stream, { type: e.type, data: e.data })
        if (watching && !owned && d.role === 'owner') {
          owned = true
          send({ type: 'owned', at: wallClock() })
        }
      }
    }
    await Promise.all([caller(), caller(), caller(), caller()])
  }

  async function handle (c: Command): Promise<void> {
    if (c.cmd === 'open') {
      db = await open(c.dir, { failoverTimeout: 10_000 })
      send({ type: 'opened', role: db.role })
    } else if (c.cmd === 'append') {
      const d = db!
      const start = wallClock()
      await concurrently(c.count, c.concurrency, async k => {
        const e = event(c.from + k)
        await d.append(e.stream, { type: e.type, data: e.data })
      })
      send({ type: 'appended', start, end: wallClock() })
    } else if (c.cmd === 'readAll' || c.cmd === 'readStream') {
      const d = db!
      const start = wallClock()
      let n = 0
      for await (const _ of c.cmd === 'readAll' ? d.readAll() : d.readStream(c.stream)) n++
      const ms = wallClock() - start
      if (n !== c.events) throw new Error(`read ${n} events where ${c.events} were expected`)
      send({ type: 'read', events: n, ms })
    } else if (c.cmd === 'churn') {
      stopping = false
      churning = churn(db!)
      send({ type: 'churning' })
    } else if (c.cmd === 'watch') {
      watching = true
      owned = false
      send({ type: 'watching' })
    } else {
      watching = false
      stopping = true
      await churning
      churning = undefined
      watching = false
      await db?.close()
      db = undefined
      send({ type: 'closed' })
    }
  }

  process.on('message', (c: Command) => {
    handle(c).catch((err: unknown) => { send({ type: 'failed', message: (err as Error).stack ?? String(err) }) })
  })
  process.on('disconnect', () => { process.exit(0) })
}
