// The `events` option of open: a malformed declaration is a TypeError before anything is
// opened or created.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { badDeclarations } from './contract/upcast.js'

t.test('open refuses malformed declarations, and creates nothing', async t => {
  const { dir, remove } = tempDir('annals-upcast-declarations-')
  t.teardown(remove)
  const cases: unknown[] = [...badDeclarations.map(([type, declaration]) => ({ [type]: declaration })), [], 'PhotoAdded', null]
  for (const events of cases) {
    await t.rejects(open(join(dir, 'db'), { events: events as never }), TypeError, JSON.stringify(events))
    t.notOk(existsSync(join(dir, 'db')), 'no folder was made')
  }
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  await t.rejects(open({ level }, { events: { PhotoAdded: { version: 2 } } }), TypeError)
  t.same(await level.keys().all(), [], 'nothing was written to the given level')
})

t.test('open takes well-formed declarations, version 1 without steps', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  const db = await open({ level }, { events: { A: { version: 1 }, B: { version: 1, upcast: {} }, C: { version: 2, upcast: { 1: e => e } } } })
  await db.append('s', [{ type: 'A' }, { type: 'B' }, { type: 'C' }])
  t.same((await db.readAll().toArray()).map(e => e.version), [1, 1, 2])
  await db.close()
})
