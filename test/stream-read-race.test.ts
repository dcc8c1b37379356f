// A stream read from the middle while a flush moves the streams' tails to their blocks: the read
// took the stream's last revision from a summary read before it awaited anything, and copied the
// tail after; a flush in between emptied the tail, and the read ended at the stale summary's
// revision, short of events, without an error (so a load from a snapshot folded a stale state).
// Found by the bench's load-then-append commands (64 clients); made certain here by flushing
// while the read awaits its first seek.
import t from 'tap'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import type { LevelBackend } from '../src/backend/level/level-backend.js'
import { indexSettings } from '../src/backend/level/stream-index.js'
import { open } from '../src/index.js'
import { internalsOf } from '../src/store/internals.js'
import { tempDir } from './helpers/backends.js'

const defaultFlush = indexSettings.flushEvents
t.teardown(() => { indexSettings.flushEvents = defaultFlush })

const levels = {
  'memory-level': () => new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' }),
  'classic-level': (dir: string) => new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
}

for (const [name, make] of Object.entries(levels)) {
  t.test(`${name}: a read from the middle of a stream sees every event when the tail is flushed meanwhile`, async t => {
    const { dir, remove } = tempDir()
    t.teardown(remove)
    const level = make(dir)
    t.teardown(async () => { await level.close() })
    const db = await open({ level })
    indexSettings.flushEvents = 10
    for (let i = 0; i < 15; i++) await db.append('s', { type: 'T', data: i }) // 0..9 in blocks, 10..14 in the tail
    indexSettings.flushEvents = 1_000_000
    const storage = (internalsOf(db).log.backend as LevelBackend).storage
    const firstKey = storage.firstKey.bind(storage)
    let flushed = false
    storage.firstKey = async (...args: Parameters<typeof firstKey>) => {
      const key = await firstKey(...args)
      if (!flushed) {
        // while the read waits for its seek: an append whose commit flushes every tail
        flushed = true
        indexSettings.flushEvents = 1
        await db.append('x', { type: 'T' })
        indexSettings.flushEvents = 1_000_000
      }
      return key
    }
    const part = await db.readStream('s', { from: 12 }).toArray()
    t.ok(flushed, 'the tail was flushed during the read')
    t.same(part.map(e => e.revision), [12, 13, 14])
    await db.close()
  })
}
