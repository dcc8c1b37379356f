// `annals verify`, run as a child process: a healthy database passes; one whose files were
// damaged while it was closed (bytes written with classic-level underneath annals) fails with
// exit code 1 and names the position of each problem.
import t from 'tap'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { defineAggregate, open } from '../src/index.js'
import { snapshotKey, snapshotPrefix } from '../src/aggregates/snapshot-keys.js'
import type { ReadyEvent } from '../src/backend/backend.js'
import { Writer } from '../src/backend/level/bytes.js'
import { ChunkBuilder, logKey, parseChunk } from '../src/backend/level/chunk.js'
import { eventSize, writeEvent } from '../src/backend/level/event-record.js'
import { encodeIdEntry } from '../src/backend/level/ids.js'
import { encodeBlock, parseBlock } from '../src/backend/level/stream-block.js'
import { tagKey, tagValue } from '../src/backend/level/tags.js'
import { encode } from '../src/storage/codec.js'
import { Space, namedKey, streamKey, u64 } from '../src/storage/keys.js'
import { tempDir } from './helpers/backends.js'
import { annals } from './helpers/cli.js'

const { dir: root, remove } = tempDir('annals-cli-verify-')
t.teardown(remove)
const healthy = join(root, 'healthy')
const Count = defineAggregate({ name: 'count', snapshotEvery: 5, initial: () => 0, evolve: (n: number) => n + 1 })

t.before(async () => {
  const db = await open(healthy)
  // streams a (positions 0, 2, 4, ...) and b (1, 3, 5, ...)
  // events 1, 6, 11 and 16 carry two tags each
  for (let i = 0; i < 20; i++) await db.append(i % 2 === 0 ? 'a' : 'b', { type: 'T', data: i, ...(i === 6 ? { id: 'given-6' } : {}), ...(i % 5 === 1 ? { tags: [`t-${i}`, 'shared'] } : {}) })
  await db.load(Count, 'a') // snapshots of revisions 4 and 9
  const sub = db.subscribe({ name: 'mailer' }, () => {})
  await sub.caughtUp()
  await sub.close()
  await db.close()
})

/** A one-event chunk at `position` of an event of `stream` at `revision`, with `bytes` in place of the event's when given. */
function chunk (position: number, time: number, stream: string, revision: number, bytes?: Buffer): Buffer {
  const e: ReadyEvent = { id: `e${position}`, indexed: false, fresh: true, type: 'T', version: 1, tags: undefined, data: encode(position), metadata: undefined, sealed: false, digest: undefined }
  const w = new Writer(eventSize(stream, e))
  writeEvent(w, stream, revision, e)
  const builder = new ChunkBuilder(position, time)
  builder.add(bytes ?? w.done())
  return builder.finish().value
}

/** The commit time of the chunk at `position`. */
async function timeOf (level: ClassicLevel<Buffer, Buffer>, position: number): Promise<number> {
  return parseChunk(logKey(position), (await level.get(logKey(position)))!).time
}

/** A copy of the healthy database, damaged by `damage` on the raw LevelDB. */
async function damaged (name: string, damage: (level: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<string> {
  const path = join(root, name)
  cpSync(healthy, path, { recursive: true })
  const level = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await level.open()
  await damage(level)
  await level.close()
  return path
}

t.test('a healthy database passes', async t => {
  const { code, stdout } = await annals(['verify', healthy])
  t.equal(code, 0)
  t.match(stdout, /✓ 20 events decode and match their checksums, at positions 0 to 19 without gaps/)
  t.match(stdout, /✓ the streams' blocks hold the log's events: 2 streams/)
  t.match(stdout, /✓ 20 id index entries agree with their events/)
  t.match(stdout, /✓ 8 tag index entries agree with their events/)
  t.match(stdout, /✓ 1 checkpoint of subscriptions and projections, none past the end of the log/)
  t.match(stdout, /✓ 2 snapshots, none past the end of its stream/)
  t.match(stdout, /ok: no problem found/)
  const json = JSON.parse((await annals(['verify', healthy, '--json'])).stdout)
  t.match(json, { ok: true, events: 20, streams: 2, indexedUpTo: 19, problems: [] })
})

t.test('damage is found, and named by position', async t => {
  const cases: Array<[string, (level: ClassicLevel<Buffer, Buffer>) => Promise<void>, Array<{ check: string, position?: number, message: RegExp }>]> = [
    ['a record that fails its checksum', async level => { await level.put(logKey(2), Buffer.from([0xc1, 0xff, 0x00, 0x01, 0x02])) },
      [{ check: 'records', position: 2, message: /The log's record at position 2 is damaged: its checksum does not match/ }]],
    ['an event that does not decode', async level => { await level.put(logKey(3), chunk(3, await timeOf(level, 3), 'b', 1, Buffer.from([0x00, 0xff]))) },
      [{ check: 'records', position: 3, message: /The event at position 3 does not decode/ }]],
    ['a missing record', async level => { await level.del(logKey(5)) }, [
      { check: 'records', position: 5, message: /Position 5 is missing: the log jumps to 6/ }
    ]],
    ['a commit time going back', async level => { await level.put(logKey(7), chunk(7, 1000, 'b', 3)) },
      [{ check: 'times', position: 7, message: /The commit time goes back at position 7/ }]],
    ['a record of another stream', async level => { await level.put(logKey(8), chunk(8, await timeOf(level, 8), 'c', 0)) }, [
      { check: 'streams', message: /The streams' blocks do not hold the same events as the log/ },
      { check: 'ids', message: /The id index does not agree with the ids of the events it names/ }
    ]],
    ['a block that lost an event', async level => {
      // stream b: revisions 0..9 at positions 1, 3, ..., 19; the block now ends at revision 8
      const block = parseBlock('b', streamKey('b', 0), (await level.get(streamKey('b', 0)))!)
      const events = Array.from({ length: 9 }, (_, i) => ({ revision: i, position: block.positions[i]!, time: block.times[i]!, bytes: block.buffer.subarray(block.spans[2 * i]!, block.spans[2 * i + 1]!) }))
      await level.put(streamKey('b', 0), encodeBlock(events))
    }, [
      { check: 'streams', position: 17, message: /The summary of stream 'b' says revision 9 at position 19; its blocks end at revision 8, position 17/ },
      { check: 'streams', position: 19, message: /Position 19 is in no stream's blocks/ }
    ]],
    ['an id index entry pointing elsewhere', async level => { await level.put(namedKey(Space.ids, 'given-6'), encodeIdEntry({ position: 9, revision: 4, digest: Buffer.alloc(16) })) },
      [{ check: 'ids', message: /The id index does not agree with the ids of the events it names/ }]],
    ['a tag index entry missing', async level => { await level.del(tagKey('shared', 11)) },
      [{ check: 'tags', message: /The tag index does not agree with the tags of the events in the log/ }]],
    ['a tag index entry for an event without the tag', async level => { await level.put(tagKey('shared', 4), tagValue('T', ['shared'])) },
      [{ check: 'tags', message: /The tag index does not agree with the tags of the events in the log/ }]],
    ['a tag index entry that does not parse', async level => { await level.put(tagKey('shared', 6), Buffer.from([0xc1])) }, [
      { check: 'tags', message: /A tag index entry is damaged/ },
      { check: 'tags', message: /The tag index does not agree with the tags of the events in the log/ }
    ]],
    ['a checkpoint past the end of the log', async level => { await level.put(namedKey(Space.subscriptions, 'mailer'), u64(1000)) },
      [{ check: 'checkpoints', position: 1000, message: /The checkpoint of subscription 'mailer' is at position 1000, past the end of the log \(20\)/ }]],
    ['a snapshot past the end of its stream', async level => { await level.put(snapshotKey(snapshotPrefix('a', Count), 12), Buffer.from([0xc0])) },
      [{ check: 'snapshots', message: /A snapshot of aggregate 'count' for stream 'a' is at revision 12, past the stream's last revision \(9\)/ }]]
  ]
  for (const [name, damage, problems] of cases) {
    const path = await damaged(name.replace(/ /g, '-'), damage)
    const human = await annals(['verify', path])
    t.equal(human.code, 1, `${name}: exit code 1`)
    for (const p of problems) t.match(human.stdout, p.message, name)
    const first = Math.min(...problems.map(p => p.position ?? Infinity))
    const where = first === Infinity ? '' : `, the first at position ${first}`
    t.match(human.stdout, new RegExp(`verify found ${problems.length} problems?${where}\n$`), name)
    const json = JSON.parse((await annals(['verify', path, '--json'])).stdout)
    t.equal(json.ok, false)
    t.match(json.problems, problems.map(p => ({ check: p.check, position: p.position, message: p.message })), `${name}: the problems, as JSON`)
    t.equal(json.problems.length, problems.length, `${name}: no other problem`)
  }
})

t.test('a database too damaged to open is still verified', async t => {
  // the last record is read at open (for its commit time): a damaged one stops open, not verify
  const path = await damaged('last-record', async level => { await level.put(logKey(19), Buffer.from('garbage')) })
  t.match(await annals(['read', path]), { code: 6, stderr: /The log's record at position 19 is damaged/ })
  const { code, stdout } = await annals(['verify', path])
  t.equal(code, 1)
  t.match(stdout, /The log's record at position 19 is damaged/)
})
