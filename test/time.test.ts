// positionAtTime: the last position committed at or before a time, by binary search over the
// records, checked against a scan of the log.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { Log } from '../src/log/log.js'
import { positionAtTime } from '../src/log/time.js'
import { checkEvents } from '../src/log/validate.js'
import { EventIterator } from '../src/log/reader.js'
import { Storage, type AnyLevel } from '../src/storage/storage.js'
import { collect } from './helpers/backends.js'

t.test('positionAtTime agrees with a scan of the log, between, at and around every commit time', async t => {
  const level = new MemoryLevel()
  const storage = await Storage.openLevel(level as unknown as AnyLevel)
  const log = await Log.open(storage, { sync: false, maxEventSize: 1 << 20 })
  t.teardown(async () => { await log.close(); await storage.close(); await level.close() })
  t.equal(await positionAtTime(log, Date.now()), -1, 'an empty log')
  for (let batch = 0; batch < 25; batch++) {
    await Promise.all(Array.from({ length: 1 + batch % 4 }, async () => await log.append('s', checkEvents({ type: 'T' }), 'any', false)))
    await new Promise(resolve => setTimeout(resolve, 1 + batch % 3))
  }
  const events = await collect(new EventIterator(() => log.chunks({ from: undefined, to: undefined, backwards: false, limit: Infinity }), () => {}))
  const scan = (time: number): number => events.filter(e => e.time <= time).at(-1)?.position ?? -1
  const times = new Set<number>()
  for (const e of events) for (const d of [-1, 0, 1]) times.add(e.time + d)
  let checked = 0
  for (const time of times) {
    if (await positionAtTime(log, time) !== scan(time)) t.fail(`at ${time}`)
    checked++
  }
  t.pass(`${checked} times checked`)
  t.ok(new Set(events.map(e => e.time)).size > 10, 'over many distinct commit times')
})
