// The snapshot store's internals: key layout, and the deletion of a stream's snapshots that
// crypto-shredding calls, including against loads under way.
import t, { type Test } from 'tap'
import { MemoryLevel } from 'memory-level'
import { Aggregates } from '../src/aggregates/aggregates.js'
import { defineAggregate } from '../src/aggregates/define.js'
import { parseSnapshotKey, snapshotKey, snapshotPrefix, streamSnapshotBounds } from '../src/aggregates/snapshot-keys.js'
import { Log } from '../src/log/log.js'
import { checkEvents } from '../src/log/validate.js'
import type { Storage } from '../src/storage/storage.js'
import { openLog as openTestLog } from './helpers/log.js'

let evolved = 0
const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => { evolved++; return n + 1 }, snapshotEvery: 3 })
const Other = defineAggregate({ name: 'other', initial: () => 0, evolve: (n: number) => n + 2, snapshotEvery: 2, version: 7 })

t.test('snapshot keys: parse what they build, and a stream\'s bounds hold its keys only', async t => {
  for (const stream of ['a', 'ab', 'a b', 'user-7', '東京🚀', 'x'.repeat(1024)]) {
    for (const aggregate of [Count, Other]) {
      for (const revision of [0, 1, 255, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
        const key = snapshotKey(snapshotPrefix(stream, aggregate), revision)
        t.same(parseSnapshotKey(key), { stream, name: aggregate.name, version: aggregate.version, fingerprint: aggregate.fingerprint, revision })
        const { gte, lt } = streamSnapshotBounds(stream)
        t.ok(Buffer.compare(gte, key) <= 0 && Buffer.compare(key, lt) < 0)
        for (const other of ['a', 'ab', 'b', `${stream}0`, stream.slice(0, -1)]) {
          if (other === stream) continue
          const b = streamSnapshotBounds(other)
          t.notOk(Buffer.compare(b.gte, key) <= 0 && Buffer.compare(key, b.lt) < 0, `${stream} is not in the bounds of ${other}`)
        }
      }
    }
  }
  t.equal(parseSnapshotKey(Buffer.from('Nstream')), undefined)
  t.equal(parseSnapshotKey(Buffer.from('L12345678')), undefined)
})

async function setup (t: Test): Promise<{ log: Log, aggregates: Aggregates, storage: Storage, count: (stream: string) => Promise<number> }> {
  const level = new MemoryLevel()
  const { log, storage } = await openTestLog(level)
  const aggregates = new Aggregates(log, async value => value)
  t.teardown(async () => { await aggregates.close(); await log.close(); await level.close() })
  const count = async (stream: string): Promise<number> => {
    const it = storage.keys(streamSnapshotBounds(stream))
    try { return (await it.nextv(5000)).length } finally { await it.close() }
  }
  return { log, aggregates, storage, count }
}

t.test('deleteStream deletes every snapshot of one stream, of any aggregate, and no other', async t => {
  const { log, aggregates, count } = await setup(t)
  for (const stream of ['a', 'ab', 'b']) await log.append(stream, checkEvents(Array.from({ length: 10 }, () => ({ type: 'T' }))), 'any', false)
  for (const stream of ['a', 'ab', 'b']) {
    await aggregates.load(Count, stream, undefined)
    await aggregates.load(Other, stream, undefined)
  }
  await aggregates.settled()
  t.same([await count('a'), await count('ab'), await count('b')], [8, 8, 8], '3 of Count and 5 of Other each')
  t.equal(await aggregates.deleteStream('a'), 8)
  t.same([await count('a'), await count('ab'), await count('b')], [0, 8, 8])
  evolved = 0
  t.same(await aggregates.load(Count, 'a', undefined), { state: 10, revision: 9, position: 9 })
  t.equal(evolved, 10, 'folded from scratch')
})

t.test('a load under way when its stream\'s snapshots are deleted writes none afterwards', async t => {
  const { log, aggregates, count } = await setup(t)
  // long enough to be read in several chunks: the fold goes on after the deletion is done
  await log.append('s', checkEvents(Array.from({ length: 3000 }, () => ({ type: 'T' }))), 'any', false)
  let deleting: Promise<number> | undefined
  const Shredded = defineAggregate({
    name: 'shredded',
    initial: () => 0,
    // the deletion starts in the middle of the fold, as a shred would while a load runs
    evolve: (n: number) => { if (n === 15 && deleting === undefined) deleting = aggregates.deleteStream('s'); return n + 1 },
    snapshotEvery: 3
  })
  t.same(await aggregates.load(Shredded, 's', undefined), { state: 3000, revision: 2999, position: 2999 })
  await deleting
  await aggregates.settled()
  t.equal(await count('s'), 0, 'neither the snapshots queued before nor those after')
  // a load that starts afterwards keeps snapshots again
  await aggregates.load(Shredded, 's', undefined)
  await aggregates.settled()
  t.equal(await count('s'), 1000)
})
