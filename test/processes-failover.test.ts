// Failover: kill -9 the process that owns the database at random moments while other processes
// append and a durable subscription counts; one of them takes the folder over each time. Every
// acknowledged append is in the log exactly once, no append is half-written, the subscription
// sees every event in order. And a deploy (a new process starts, the old owner is stopped)
// loses no append and refuses none.
import t from 'tap'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { open, type RecordedEvent } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

const SEED = Number(process.env.ANNALS_TEST_SEED ?? 20261204)
const KILLS = 20

interface Ack { batch: string, stream: string, size: number, revision: number, position: number, at: number }

interface Worker {
  id: string
  role: 'appender' | 'subscriber'
  child: ChildProcess
  owner: boolean
  alive: boolean
  /** positions its subscription handled, in order */
  handled: number[]
}

/** A seeded generator of numbers in [0, 1). */
function generator (seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
}

class Cluster {
  readonly path: string
  readonly workers: Worker[] = []
  readonly acks = new Map<string, Ack>()
  readonly errors: string[] = []
  /** every `sub` line in the order it arrived: position and the worker that handled it */
  readonly seen: Array<{ position: number, worker: string }> = []
  /** when each worker said it became the owner */
  readonly owners: Array<{ worker: string, at: number }> = []
  #next = 0
  readonly #random: () => number

  constructor (path: string, random: () => number) {
    this.path = path
    this.#random = random
  }

  async start (role: Worker['role']): Promise<Worker> {
    const id = `${role[0]}${this.#next++}`
    const worker: Worker = { id, role, child: undefined as unknown as ChildProcess, owner: false, alive: true, handled: [] }
    this.workers.push(worker)
    worker.child = await startChild('failover-worker.mjs', [this.path, role, id, String(Math.floor(this.#random() * 1e9))], line => {
      const space = line.indexOf(' ')
      const [word, rest] = space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)]
      if (word === 'role') {
        worker.owner = rest === 'owner'
        if (worker.owner) this.owners.push({ worker: id, at: Date.now() })
      } else if (word === 'ack') {
        const ack = JSON.parse(rest) as Ack
        this.acks.set(ack.batch, ack)
      } else if (word === 'err') {
        this.errors.push(`${id}: ${rest}`)
      } else if (word === 'sub') {
        const position = Number(rest.split(' ')[0])
        this.seen.push({ position, worker: id })
        worker.handled.push(position)
      }
    }, { stdin: true })
    worker.child.once('exit', () => { worker.alive = false })
    return worker
  }

  get owner (): Worker | undefined {
    return this.workers.find(w => w.alive && w.owner)
  }

  async until (check: () => boolean, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 2))
    }
  }

  /** Asks every live worker (of those chosen) to finish what it has in flight and exit. */
  async stop (which: (w: Worker) => boolean = () => true): Promise<void> {
    await Promise.all(this.workers.filter(w => w.alive && which(w)).map(async w => {
      const exited = new Promise(resolve => w.child.once('exit', resolve))
      w.child.stdin!.end('stop\n')
      await exited
    }))
  }
}

t.test(`kill -9 the owner ${KILLS} times while three clients append and a durable subscription counts (seed ${SEED})`, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const random = generator(SEED)
  const cluster = new Cluster(join(dir, 'db'), random)
  t.teardown(async () => { for (const w of cluster.workers) if (w.alive && w.child !== undefined) await kill(w.child) })
  // the first appender becomes the owner; three more append as clients, one subscribes
  await cluster.start('appender')
  await Promise.all([cluster.start('appender'), cluster.start('appender'), cluster.start('appender'), cluster.start('subscriber')])
  const failovers: number[] = []
  for (let k = 0; k < KILLS; k++) {
    await new Promise(resolve => setTimeout(resolve, 20 + Math.floor(random() * 180)))
    const owner = cluster.owner
    if (owner === undefined) throw new Error('no owner')
    const acksBefore = cluster.acks.size
    const killedAt = Date.now()
    owner.child.kill('SIGKILL')
    owner.alive = false
    // a replacement, as a supervisor would start
    const replacing = cluster.start(owner.role)
    await cluster.until(() => cluster.owner !== undefined && cluster.owner !== owner, `a new owner after kill ${k + 1}`)
    await cluster.until(() => [...cluster.acks.values()].some(a => a.at > killedAt) && cluster.acks.size > acksBefore, `an append after kill ${k + 1}`)
    failovers.push(Math.min(...[...cluster.acks.values()].filter(a => a.at > killedAt).map(a => a.at)) - killedAt)
    await replacing
  }
  const owners = cluster.owners.map(o => o.worker)
  t.ok(owners.every((o, i) => i === 0 || o !== owners[i - 1]), 'a new owner took over after each kill')
  t.ok(owners.length >= KILLS + 1, `${owners.length - 1} take-overs`)
  failovers.sort((a, b) => a - b)
  t.comment(`failover, kill to the next acknowledged append: median ${failovers[failovers.length >> 1]} ms, max ${failovers[failovers.length - 1]} ms`)

  // the appenders finish what they have in flight; then the subscription catches up
  await cluster.stop(w => w.role === 'appender')
  const db = await open(cluster.path)
  t.teardown(async () => { await db.close() })
  const log = await collect(db.readAll())
  await cluster.until(() => new Set(cluster.seen.map(s => s.position)).size >= log.length, 'the subscription to see every event').catch(err => {
    const subscribers = cluster.workers.filter(w => w.role === 'subscriber').map(w => `${w.id} alive ${w.alive} owner ${w.owner} last ${w.handled.slice(-3).join(',')}`)
    throw new Error(`${(err as Error).message}: ${log.length} events, seen ${new Set(cluster.seen.map(s => s.position)).size}; ${subscribers.join('; ')}`)
  })
  await db.close()
  await cluster.stop()
  t.same(cluster.errors, [], 'no append failed, no subscription failed')
  t.same(log.map(e => e.position), log.map((_, i) => i), 'positions without gaps')
  const ids = new Map<string, RecordedEvent>()
  for (const e of log) {
    if (ids.has(e.id)) t.fail(`event ${e.id} is in the log twice`)
    ids.set(e.id, e)
  }
  // every acknowledged append is there, whole, where its result said
  let missing = 0
  for (const ack of cluster.acks.values()) {
    const last = ids.get(`${ack.batch}/${ack.size - 1}`)
    if (last === undefined || last.position !== ack.position || last.revision !== ack.revision || last.stream !== ack.stream) missing++
  }
  t.equal(missing, 0, `all ${cluster.acks.size} acknowledged appends are in the log where their results say`)
  // no append is half-written, acknowledged or not
  const batches = new Map<string, number[]>()
  for (const e of log) {
    const { batch, size, i } = e.data as { batch: string, size: number, i: number }
    if (!batches.has(batch)) batches.set(batch, Array(size).fill(0))
    batches.get(batch)![i]!++
  }
  const partial = [...batches].filter(([, counts]) => counts.some(c => c !== 1))
  t.same(partial, [], `${batches.size} appends, each whole or absent`)
  const perStream = new Map<string, number[]>()
  for (const e of log) perStream.set(e.stream, [...perStream.get(e.stream) ?? [], e.revision])
  for (const [stream, revisions] of perStream) t.same(revisions, revisions.map((_, i) => i), `${stream}: revisions without gaps`)

  // the subscription: every event, in order, at least once (again only after a take-over)
  let top = -1
  let skipped = 0
  for (const { position } of cluster.seen) {
    if (position > top + 1) skipped++
    top = Math.max(top, position)
  }
  t.equal(skipped, 0, 'the subscription never skipped an event')
  t.equal(new Set(cluster.seen.map(s => s.position)).size, log.length, `it saw all ${log.length} events`)
  for (const w of cluster.workers.filter(w => w.role === 'subscriber')) {
    // in order; once again only the event in hand when its process lost the lock
    t.ok(w.handled.every((p, i) => i === 0 || p >= w.handled[i - 1]!), `${w.id}: in order`)
  }
  const again = cluster.seen.length - new Set(cluster.seen.map(s => s.position)).size
  t.ok(again <= KILLS, `${again} events handled again after a take-over (at most one per kill)`)
})

t.test('a deploy: a new process starts, the old owner is stopped; no append is lost or refused', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const cluster = new Cluster(join(dir, 'db'), generator(SEED + 1))
  t.teardown(async () => { for (const w of cluster.workers) if (w.alive && w.child !== undefined) await kill(w.child) })
  const old = await cluster.start('appender')
  await cluster.start('appender')
  for (let round = 0; round < 3; round++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    // the new version starts (a client), then the old one is stopped gracefully
    const next = await cluster.start('appender')
    const owner = cluster.owner ?? old
    const acksBefore = cluster.acks.size
    const exited = new Promise(resolve => owner.child.once('exit', resolve))
    owner.child.kill('SIGTERM')
    await exited
    await cluster.until(() => cluster.owner !== undefined && cluster.owner !== owner, 'a new owner')
    await cluster.until(() => cluster.acks.size > acksBefore + 10, 'appends on the new owner')
    t.ok(next.alive)
  }
  await cluster.stop()
  t.same(cluster.errors, [], 'no append was refused')
  const db = await open(cluster.path)
  t.teardown(async () => { await db.close() })
  const log = await collect(db.readAll())
  const ids = new Set(log.map(e => e.id))
  t.equal(ids.size, log.length, 'no event twice')
  const lost = [...cluster.acks.values()].filter(a => !ids.has(`${a.batch}/${a.size - 1}`))
  t.same(lost, [], `all ${cluster.acks.size} acknowledged appends are in the log`)
})
