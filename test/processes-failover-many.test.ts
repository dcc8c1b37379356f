// An append to several streams (appendMany) in flight from a client while the process that owns
// the database is killed with SIGKILL: each one lands whole and once (sent again to the next
// owner, its ids make that safe), or fails with a code; never half of it, and sending it again
// with the same ids never writes it twice.
import t from 'tap'
import { join } from 'node:path'
import { open, type AppendResult, type RecordedEvent } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

const SEED = Number(process.env.ANNALS_TEST_SEED ?? 20261205)
const KILLS = 8
/** appendMany calls in flight at each kill */
const IN_FLIGHT = 12

function generator (seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
}

/** The parts of the appendMany `name`: 1 to 3 events to each of 2 or 3 streams, every event with its own id. */
function parts (name: string, random: () => number): Array<{ stream: string, events: Array<{ id: string, type: string, data: { call: string, part: number, i: number } }> }> {
  const streams = ['a', 'b', 'c'].slice(0, 2 + Math.floor(random() * 2))
  return streams.map((stream, part) => ({
    stream,
    events: Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => ({ id: `${name}/${part}/${i}`, type: 'Moved', data: { call: name, part, i } }))
  }))
}

t.test(`appendMany in flight from a client while its owner is killed ${KILLS} times (seed ${SEED})`, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const random = generator(SEED)
  const calls = new Map<string, ReturnType<typeof parts>>()
  const acked = new Map<string, AppendResult[]>()
  const failed = new Map<string, string>()
  /** calls that settled after the signal was sent: in flight at the kill */
  let afterKill = 0
  for (let k = 0; k < KILLS; k++) {
    const owner = await startChild('hold-open.mjs', [path])
    const db = await open(path, { failoverTimeout: 10_000 })
    t.equal(db.role, 'client', `kill ${k + 1}: this process is a client`)
    const flying: Array<Promise<void>> = []
    let killed = false
    for (let n = 0; n < IN_FLIGHT; n++) {
      const name = `k${k}-${n}`
      const p = parts(name, random)
      calls.set(name, p)
      flying.push(db.appendMany(p).then(
        r => { acked.set(name, r) },
        (err: { code?: string }) => { failed.set(name, err.code ?? String(err)) }
      ).finally(() => { if (killed) afterKill++ }))
      // some leave before the kill, some with it, some after
      if (random() < 0.3) await new Promise(resolve => setImmediate(resolve))
    }
    killed = true
    await kill(owner)
    await Promise.all(flying)
    t.equal(db.role, 'owner', `kill ${k + 1}: this process took the database over`)
    await db.close()
  }
  t.same([...failed.values()].filter(code => !/^ANNALS_/.test(code)), [], 'a call that failed did so with a code')
  t.comment(`${acked.size} acknowledged, ${failed.size} failed: ${[...new Set(failed.values())].join(', ')}`)
  t.ok(afterKill > 0, `${afterKill} calls were in flight when the owner was killed`)

  const db = await open(path)
  t.teardown(async () => { await db.close() })
  const log = await collect(db.readAll())
  const byId = new Map<string, RecordedEvent>()
  for (const e of log) {
    if (byId.has(e.id)) t.fail(`event ${e.id} is in the log twice`)
    byId.set(e.id, e)
  }
  // each call whole or absent; an acknowledged one whole, where its results say
  let half = 0
  let lost = 0
  for (const [name, p] of calls) {
    const events = p.flatMap(part => part.events)
    const found = events.filter(e => byId.has(e.id)).length
    if (found !== 0 && found !== events.length) half++
    const r = acked.get(name)
    if (r !== undefined) {
      const where = p.map(part => byId.get(part.events[part.events.length - 1]!.id))
      if (where.some((e, i) => e === undefined || e.position !== r[i]!.position || e.revision !== r[i]!.revision || e.stream !== p[i]!.stream)) lost++
    }
  }
  t.equal(half, 0, `all ${calls.size} calls whole or absent`)
  t.equal(lost, 0, `all ${acked.size} acknowledged calls in the log where their results say`)
  // whatever landed, sending it again with the same ids writes nothing twice
  for (const [name, p] of calls) {
    const r = await db.appendMany(p)
    const first = acked.get(name)
    if (first !== undefined) t.same(r.map(x => [x.revision, x.position]), first.map(x => [x.revision, x.position]), `${name}: the original result`)
  }
  const again = await collect(db.readAll())
  t.equal(new Set(again.map(e => e.id)).size, again.length, 'no event twice after every call was sent again')
  t.equal(again.length, [...calls.values()].reduce((n, p) => n + p.reduce((m, part) => m + part.events.length, 0), 0), 'each call in the log once')
  t.same(again.map(e => e.position), again.map((_, i) => i), 'positions without gaps')
})
