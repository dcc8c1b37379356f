// Inline checkpoints in the database keep up with batches that change nothing in the view, so
// that after a crash (no close to write them) an inline projection of rare events handles at
// most CHECKPOINT_LAG events again, not the whole log since the last change.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { checkEvents } from '../src/log/validate.js'
import { readRecords } from '../src/projections/checkpoints.js'
import { defineProjection } from '../src/projections/definition.js'
import { CHECKPOINT_LAG } from '../src/projections/inline-hook.js'
import { Projections } from '../src/projections/registry.js'
import { openLog } from './helpers/log.js'

t.test('a batch that changes nothing writes the checkpoint once the stored one is CHECKPOINT_LAG behind, and only then', async t => {
  const level = new MemoryLevel()
  const { log, storage } = await openLog(level)
  const registry = new Projections(log)
  t.teardown(async () => { await registry.stop(); await log.close(); await level.close() })
  const Rare = defineProjection<number>({ name: 'rare', mode: 'inline', handle: (e, view) => { if (e.type === 'Rare') view.put('last', e.position) } })
  await registry.register(Rare)
  await log.append('s', checkEvents({ type: 'Rare' }), 'any', false)
  const stored = async (): Promise<number> => (await readRecords(storage, 'rare')).active!.next
  t.equal(await stored(), 1, 'a batch that changed the view writes its checkpoint')
  const writes: number[] = []
  let last = 1
  for (let i = 0; i < 5000; i += 10) {
    // ten events per batch
    await log.append('s', checkEvents(Array.from({ length: 10 }, () => ({ type: 'Common' }))), 'any', false)
    const now = await stored()
    if (now !== last) writes.push(now)
    last = now
    t.ok(log.head.position + 1 - now < CHECKPOINT_LAG + 10, `at ${log.head.position}, the stored checkpoint is ${now}`)
  }
  // what the rule gives: a write at the end of the first batch that leaves it CHECKPOINT_LAG behind
  const expected: number[] = []
  for (let next = 11, at = 1; next <= 5001; next += 10) if (next - at >= CHECKPOINT_LAG) expected.push(at = next)
  t.same(writes, expected, 'one checkpoint per CHECKPOINT_LAG events, not one per batch')
  t.equal(writes.length, 4)
})
