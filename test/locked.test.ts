// A database folder another process holds with exclusive: true is ANNALS_LOCKED, with a message
// that says so (without exclusive, the second process is its client: see processes.test.ts).
import t from 'tap'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

t.test('a folder held by another process that admits no other', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const child = await startChild('hold-open.mjs', [path, 'exclusive'])
  const err = await open(path).catch((e: unknown) => e)
  t.match(err, { code: 'ANNALS_LOCKED', message: /open in another process/ })
  await kill(child)
  const db = await open(path)
  t.equal(db.status, 'open', 'opens once the other process is gone')
  await db.close()
})

t.test('two sublevel objects of one database are one database: the second open is refused', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  const first = await open({ level: level.sublevel('events') })
  await t.rejects(open({ level: level.sublevel('events') }), { code: 'ANNALS_LOCKED' }, 'the same prefix: two writers on one log')
  const other = await open({ level: level.sublevel('other') })
  t.equal(other.status, 'open', 'another prefix is another database')
  await other.close()
  await first.close()
  const again = await open({ level: level.sublevel('events') })
  t.equal(again.status, 'open', 'free again once closed')
  await again.close()
})
