// What crypto-shredding needs of projections: a purge rebuilds a view from the log as it reads
// now, dropping the old view and its history at once; a projection no process registers can be
// forgotten, documents, history and all.
import t from 'tap'
import { MemoryLevel } from 'memory-level'
import { checkEvents } from '../src/log/validate.js'
import { defineProjection } from '../src/projections/definition.js'
import { Projections } from '../src/projections/registry.js'
import { Space } from '../src/storage/keys.js'
import { openLog as openTestLog } from './helpers/log.js'

/** Keys and values of a key space, as text. */
async function keysOf (level: MemoryLevel, tag: number): Promise<string[]> {
  const entries = await level.iterator({ keyEncoding: 'buffer', valueEncoding: 'buffer' }).all() as unknown as Array<[Buffer, Buffer]>
  return entries.filter(([k]) => k[0] === tag).map(([k, v]) => `${k.toString('latin1')}=${v.toString('latin1')}`)
}

t.test('a purge drops the old view and its history at once; forget drops a projection no one registers', async t => {
  const level = new MemoryLevel()
  const { log } = await openTestLog(level)
  const registry = new Projections(log)
  t.teardown(async () => { await log.close(); await level.close() })
  let secret = 'plaintext'
  const Emails = defineProjection<string>({ name: 'emails', mode: 'inline', handle: (e, view) => { view.put(e.stream, secret) } })
  const Other = defineProjection<number>({ name: 'other', handle: (e, view) => { view.put('n', e.position) } })
  const emails = await registry.register(Emails)
  const other = await registry.register(Other)
  for (let i = 0; i < 3; i++) await log.append(`user-${i}`, checkEvents({ type: 'Registered' }), 'any', false)
  await other.caughtUp()
  const stored = async (): Promise<string> => [...await keysOf(level, Space.views), ...await keysOf(level, Space.history)].join('|')
  t.match(await stored(), /plaintext/)
  t.same((await registry.storedNames()).sort(), ['emails', 'other'])

  secret = 'redacted' // as if the log now read redacted values
  await registry.rebuild(emails, true)
  t.equal(emails.status().state, 'live')
  // the old generation is deleted behind: wait for it
  for (let i = 0; i < 100 && /plaintext/.test(await stored()); i++) await new Promise(resolve => setTimeout(resolve, 5))
  t.notMatch(await stored(), /plaintext/, 'no document or history of the old view is left')
  t.match(await stored(), /redacted/)
  await log.append('user-9', checkEvents({ type: 'Registered' }), 'any', false)
  t.equal(emails.active!.record.next, 4, 'the rebuilt view is back in the append path')

  await t.rejects(registry.forget('emails'), { code: 'ANNALS_ALREADY_PROJECTED' }, 'a registered one is rebuilt, not forgotten')
  // as in a later process that registers only 'emails': 'other' is stored, not registered
  await registry.stop()
  registry.detach()
  const later = new Projections(log)
  t.teardown(async () => { await later.stop() })
  await later.register(Emails)
  await later.forget('other')
  t.same(await later.storedNames(), ['emails'])
  for (let i = 0; i < 100 && (await keysOf(level, Space.views)).some(k => /n=/.test(k)); i++) await new Promise(resolve => setTimeout(resolve, 5))
  t.same((await keysOf(level, Space.views)).filter(k => /n=/.test(k)), [], 'its documents are deleted behind')
})
