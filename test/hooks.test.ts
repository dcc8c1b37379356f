// The log's two extension points: a transform between events and records, and a hook on
// every append as it joins a batch.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { createHash, randomBytes } from 'node:crypto'
import type { AppendHook, EventTransform } from '../src/log/hooks.js'
import { Log } from '../src/log/log.js'
import type { RecordedEvent } from '../src/log/types.js'
import { checkEvents } from '../src/log/validate.js'
import { openLog as openTestLog } from './helpers/log.js'
import { collect } from './helpers/backends.js'
import { EventIterator } from '../src/log/reader.js'

async function openLog (): Promise<{ log: Log, level: MemoryLevel, done: () => Promise<void> }> {
  const level = new MemoryLevel()
  const { log } = await openTestLog(level)
  return { log, level, done: async () => { await log.close(); await level.close() } }
}

const all = (log: Log): EventIterator => new EventIterator(() => log.chunks({ from: undefined, to: undefined, backwards: false, limit: Infinity }), () => {})

t.test('a transform seals what is stored and opens what is read, on every path', async t => {
  const { log, level, done } = await openLog()
  t.teardown(done)
  const prepared: string[] = []
  // a stand-in for encryption: the secret is stored reversed, with a random salt, so that two
  // seals of the same value differ as two encryptions would
  const transform: EventTransform = {
    seals: type => type === 'Said',
    async prepare (events) { for (const e of events) prepared.push(e.type) },
    seal (event) {
      const d = event.data as { secret: string }
      return { ...d, secret: `sealed:${randomBytes(4).toString('hex')}:${[...d.secret].reverse().join('')}:${event.id}` }
    },
    digest (event) {
      return createHash('sha256').update(JSON.stringify(event.data)).digest().subarray(0, 16)
    },
    open (events) {
      return events.map(e => {
        const d = e.data as { secret?: string }
        if (typeof d?.secret !== 'string' || !d.secret.startsWith('sealed:')) return e
        const [, , reversed, id] = d.secret.split(':')
        if (id !== e.id) throw new Error('moved')
        return { ...e, data: { ...d, secret: [...reversed!].reverse().join('') } }
      })
    }
  }
  log.setTransform(transform)
  const events = checkEvents([{ id: 'a', type: 'Said', data: { secret: 'xyzzy', open: 'hello' } }, { type: 'Plain', data: { n: 1 } }])
  t.match(await log.append('s', events, 'any', false), { revision: 1, position: 1 })
  t.same(prepared, ['Said'], 'only the types it seals')
  const read = await collect(all(log))
  t.same(read.map(e => e.data), [{ secret: 'xyzzy', open: 'hello' }, { n: 1 }], 'reads are opened')
  t.same((await collect(new EventIterator(() => log.streamChunks('s', { from: undefined, to: undefined, backwards: true, limit: Infinity }), () => {}))).map(e => e.type), ['Plain', 'Said'])
  const stored = (await level.values({ keyEncoding: 'buffer', valueEncoding: 'buffer' }).all() as unknown as Buffer[]).map(v => v.toString('latin1')).join('|')
  t.match(stored, /yzzyx/, 'the record holds the sealed value')
  t.notMatch(stored, /xyzzy/, 'and not the plain one')
  // a retry compares digests of what callers gave: the seals differ, the events do not
  t.match(await log.append('s', checkEvents({ id: 'a', type: 'Said', data: { secret: 'xyzzy', open: 'hello' } }), 'no_stream', false), { revision: 0, position: 0 })
  t.match(await log.append('s', checkEvents({ id: 'a', type: 'Said', data: { secret: 'xyzzy', open: 'hello' } }), 'any', false), { revision: 0, position: 0 })
  await t.rejects(log.append('s', checkEvents({ id: 'a', type: 'Said', data: { secret: 'other', open: 'hello' } }), 'any', false), { code: 'ANNALS_DUPLICATE_ID' })
  // the generated id the seal saw is the one read back
  await log.append('t', checkEvents({ type: 'Said', data: { secret: 'abc' } }), 'any', false)
  t.same((await collect(all(log))).at(-1)!.data, { secret: 'abc' })
})

t.test('a hook adds writes to an append, or fails it alone', async t => {
  const { log, level, done } = await openLog()
  t.teardown(done)
  const settled: boolean[] = []
  const seen: string[] = []
  const hook: AppendHook = {
    async append (events: readonly RecordedEvent[]) {
      if (events.some(e => e.type === 'Bad')) throw new Error('refused')
      seen.push(...events.map(e => `${e.stream}@${e.revision}#${e.position}`))
      return events.map(e => ({ key: Buffer.from(`Xseen-${e.position}`), value: Buffer.from(e.type) }))
    },
    settle (written) { settled.push(written) }
  }
  log.setHook(hook)
  const results = await Promise.allSettled([
    log.append('a', checkEvents({ type: 'Good' }), 'any', false),
    log.append('b', checkEvents([{ type: 'Good' }, { type: 'Bad' }]), 'any', false),
    log.append('a', checkEvents({ type: 'Fine' }), 'any', false)
  ])
  t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.match((results[1] as PromiseRejectedResult).reason, { message: 'refused' })
  t.same(seen, ['a@0#0', 'a@1#1'], 'the hook saw the events with their places')
  t.same(settled, [true], 'one batch')
  const keys = (await level.keys({ keyEncoding: 'utf8' }).all()).filter(k => k.startsWith('X'))
  t.same(keys, ['Xseen-0', 'Xseen-1'], 'its writes joined the batch; the failed append left none')
  t.same((await collect(all(log))).map(e => e.type), ['Good', 'Fine'])
})

t.test('a hook may add writes once per batch, before it is written; if that throws, the batch fails whole', async t => {
  const { log, level, done } = await openLog()
  t.teardown(done)
  let batches = 0
  let refuse = false
  const settled: boolean[] = []
  const hook: AppendHook = {
    append: events => events.some(e => e.type === 'Bad') ? Promise.reject(new Error('refused')) : [],
    finish () {
      if (refuse) throw new Error('cannot finish')
      return [{ key: Buffer.from(`Xbatch-${batches++}`), value: Buffer.from('ok') }]
    },
    settle (written) { settled.push(written) }
  }
  log.setHook(hook)
  const first = await Promise.allSettled([
    log.append('a', checkEvents({ type: 'Good' }), 'any', false),
    log.append('a', checkEvents({ type: 'Bad' }), 'any', false),
    log.append('b', checkEvents({ type: 'Good' }), 'any', false)
  ])
  t.same(first.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  // a batch where no append joins has nothing to finish
  await t.rejects(log.append('a', checkEvents({ type: 'Bad' }), 'any', false), { message: 'refused' })
  refuse = true
  const second = await Promise.allSettled([
    log.append('a', checkEvents({ type: 'Good' }), 'any', false),
    log.append('c', checkEvents({ type: 'Good' }), 'any', false)
  ])
  t.same(second.map(r => r.status), ['rejected', 'rejected'])
  t.match((second[0] as PromiseRejectedResult).reason, { message: 'cannot finish' })
  // the batch of the lone Bad append wrote nothing: what the hook staged for it was not written
  t.same(settled, [true, false, false])
  const keys = (await level.keys({ keyEncoding: 'utf8' }).all()).filter(k => k.startsWith('X'))
  t.same(keys, ['Xbatch-0'], 'one write for the first batch, none for the others')
  t.same((await collect(all(log))).map(e => e.stream), ['a', 'b'], 'nothing of the failed batch was written')
  t.equal(log.head.position, 1)
  refuse = false
  t.match(await log.append('c', checkEvents({ type: 'Good' }), 'any', false), { revision: 0, position: 2 }, 'the log goes on')
})
