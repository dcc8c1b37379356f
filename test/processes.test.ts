// Many processes, one database: four processes append concurrently to shared streams with
// expected revisions; a consumer group of three processes shares a durable subscription.
import t from 'tap'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { open } from '../src/index.js'
import { slotOf } from '../src/subscriptions/group.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

/** A child that prints lines; `next(word)` resolves with the next line starting with that word. */
class Child {
  readonly lines: string[] = []
  child!: ChildProcess
  readonly #waiting: Array<{ word: string, resolve: (line: string) => void }> = []

  async start (script: string, args: string[]): Promise<this> {
    this.child = await startChild(script, args, line => {
      this.lines.push(line)
      const i = this.#waiting.findIndex(w => line.startsWith(`${w.word} `) || line === w.word)
      if (i >= 0) this.#waiting.splice(i, 1)[0]!.resolve(line)
    }, { stdin: true })
    return this
  }

  async next (word: string): Promise<string> {
    return await new Promise(resolve => this.#waiting.push({ word, resolve }))
  }

  tell (line: string): void {
    this.child.stdin!.write(`${line}\n`)
  }

  get running (): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  async stop (): Promise<void> {
    if (!this.running) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.tell('stop')
    let timer: NodeJS.Timeout | undefined
    await Promise.race([exited, new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${this.child.pid} did not stop: ${this.lines.slice(-3).join(' | ')}`)), 15_000) })])
    clearTimeout(timer)
  }
}

async function until (check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

t.test('four processes append concurrently to shared streams with expected revisions', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const COUNT = 150
  const first = await new Child().start('process-appender.mjs', [path, 'w0', String(COUNT)])
  const others = await Promise.all([1, 2, 3].map(async i => await new Child().start('process-appender.mjs', [path, `w${i}`, String(COUNT)])))
  const all = [first, ...others]
  t.teardown(async () => { for (const c of all) if (c.running) await kill(c.child) })
  t.same(all.map(c => c.lines.find(l => l.startsWith('role '))), ['role owner', 'role client', 'role client', 'role client'], 'the first owns the folder, the others are its clients')
  const done = all.map(async c => await c.next('done'))
  for (const c of all) c.tell('go')
  const conflicts = (await Promise.all(done)).reduce((n, line) => n + Number(line.split(' ')[1]), 0)
  t.ok(conflicts > 0, `${conflicts} conflicts: the appends did contend`)

  // one winner per conflict: each revision of each stream went to exactly one append
  const oks = all.flatMap(c => c.lines.filter(l => l.startsWith('ok ')).map(l => { const [, stream, revision, position] = l.split(' '); return { stream: stream!, revision: Number(revision), position: Number(position) } }))
  t.equal(oks.length, 4 * COUNT, 'every append went in, at last')
  for (const stream of ['s0', 's1', 's2']) {
    const revisions = oks.filter(o => o.stream === stream).map(o => o.revision).sort((a, b) => a - b)
    t.same(revisions, revisions.map((_, i) => i), `${stream}: each revision won once`)
  }
  t.same(oks.map(o => o.position).sort((a, b) => a - b), oks.map((_, i) => i), 'positions contiguous from 0')

  // every process reads back every event, and its streams agree with its log
  const reads = all.map(async c => await Promise.all([c.next('read'), c.next('agree')]))
  for (const c of all) c.tell('check')
  const answers = await Promise.all(reads)
  t.same(new Set(answers.map(([read]) => read)).size, 1, 'the four processes read the same log')
  t.equal(answers[0]![0].split(' ')[1], String(4 * COUNT))
  t.same(answers.map(([, agree]) => agree), Array(4).fill('agree true'), 'in each, every stream read agrees with the log')
  for (const c of [...others, first]) await c.stop()
  const db = await open(path)
  const log = await collect(db.readAll())
  for (const o of oks) {
    const e = log[o.position]!
    if (e.stream !== o.stream || e.revision !== o.revision) t.fail(`position ${o.position} is not ${o.stream}@${o.revision}`)
  }
  await db.close()
})

t.test('a consumer group of three processes: each event handled by one member, in stream order; a member killed leaves its streams to the others', async t => {
  const { dir, remove } = tempDir()
  const path = join(dir, 'db')
  // this process owns the database and appends; the members are its clients
  const db = await open(path)
  let members: Child[] = []
  t.teardown(async () => {
    for (const c of members) if (c.running) await kill(c.child)
    await db.close()
    remove()
  })
  const append = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, to - i) }, async (_, j) => await db.append(`order-${(i + j) % 37}`, { type: 'Placed', data: { n: i + j } })))
    }
  }
  await append(0, 300)
  members = await Promise.all([0, 1, 2].map(async m => await new Child().start('group-member.mjs', [path, String(m), '3'])))
  const handled = (c: Child): Array<{ stream: string, revision: number, position: number }> => c.lines.filter(l => l.startsWith('got ')).map(l => {
    const [, stream, revision, position] = l.split(' ')
    return { stream: stream!, revision: Number(revision), position: Number(position) }
  })
  const positions = (): number[] => members.flatMap(c => handled(c).map(h => h.position))
  // the first to start runs every slot until the others come and ask for theirs: wait until
  // an event of each slot is handled by its member
  await until(() => new Set(positions()).size === 300, 'the group to handle the first events')
  const probeStreams = [0, 1, 2].map(m => Array.from({ length: 100 }, (_, i) => `probe-${i}`).find(s => slotOf(s, 3) === m)!)
  for (let balanced = false; !balanced;) {
    const marks = await Promise.all(probeStreams.map(async s => (await db.append(s, { type: 'Probe' })).position))
    await until(() => marks.every(p => positions().includes(p)), 'the probes')
    balanced = marks.every((p, m) => handled(members[m]!).some(h => h.position === p))
  }
  const start = (await db.append('order-0', { type: 'Placed', data: { n: -1 } })).position
  await until(() => positions().includes(start), 'the group to be balanced')
  await append(300, 600)
  const total = async (): Promise<number> => (await collect(db.readAll())).length
  const count = await total()
  await until(() => new Set(positions()).size === count, `the group to handle ${count} events`)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(positions().length, count, 'each event handled once, by one member')
  t.ok(members.every(c => handled(c).length > 0), `each member handled some: ${members.map(c => handled(c).length).join(', ')}`)
  const byStream = (list: Array<{ stream: string, revision: number }>): Map<string, number[]> => {
    const map = new Map<string, number[]>()
    for (const h of list) map.set(h.stream, [...map.get(h.stream) ?? [], h.revision])
    return map
  }
  for (const c of members) {
    for (const [stream, revisions] of byStream(handled(c))) {
      if (!revisions.every((r, i) => i === 0 || r > revisions[i - 1]!)) t.fail(`${stream}: out of order`)
    }
  }
  // once all three run, each stream is handled by its member (by the hash of its name)
  const late = members.map(c => handled(c).filter(h => h.position > start))
  t.ok(late.every((list, m) => list.every(h => slotOf(h.stream, 3) === m)), 'each stream handled by its member')

  // member 1 goes away without a word; its streams move to the others
  const gone = members[1]!
  const before = handled(gone).length
  await kill(gone.child)
  const killedAt = (await total()) - 1
  await append(600, 900)
  const alive = [members[0]!, members[2]!]
  const seen = (): Set<number> => new Set([...alive.flatMap(c => handled(c).map(h => h.position)), ...handled(gone).map(h => h.position)])
  const all = await total()
  await until(() => seen().size === all, 'the others to handle every event')
  const moved = alive.flatMap(c => handled(c).filter(h => slotOf(h.stream, 3) === 1 && h.position > killedAt))
  t.ok(moved.length > 0, `its streams moved to the others (${moved.length} events after it went, ${before} before)`)
  for (const c of alive) {
    for (const [stream, revisions] of byStream(handled(c))) {
      // in order; the one event in hand when member 1 was killed may come again
      if (!revisions.every((r, i) => i === 0 || r >= revisions[i - 1]!)) t.fail(`${stream}: out of order`)
    }
  }
  const log = await collect(db.readAll())
  t.equal(seen().size, log.length, 'no event skipped')
  for (const c of alive) await c.stop()
})
