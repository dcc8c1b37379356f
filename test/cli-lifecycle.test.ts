// `annals scavenge` and `annals archive`, run as child processes: a scavenge says what it
// removed and a second finds nothing; an archive holds exactly the events that read before its
// bound (the lines `annals export` writes for them, gzip-compressed), which then read no more;
// `annals import` reads the archive (compressed: told by its magic bytes) into an empty
// database, which then holds exactly those events.
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { annals, jsonLines } from './helpers/cli.js'

const { dir: root, remove } = tempDir('annals-cli-lifecycle-')
t.teardown(remove)
const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }

/** A database whose streams lost events in every way, with personal fields and tags. */
async function build (path: string): Promise<void> {
  const db = await open(path, { personalData })
  for (let i = 0; i < 4; i++) await db.append(`user-${i}`, { type: 'UserRegistered', data: { userId: `user-${i}`, email: `u${i}@example.com` } })
  for (let i = 0; i < 200; i++) await db.append(`cart-${i % 10}`, { type: 'Added', data: { i }, tags: [`item:${i % 7}`] })
  await db.deleteStream('cart-0')
  await db.truncateStream('cart-1', { before: 12 })
  await db.tombstoneStream('cart-2')
  await db.setStreamMetadata('cart-3', { maxCount: 5 })
  await db.shred('user-3')
  for (let i = 200; i < 260; i++) if (i % 10 !== 2) await db.append(`cart-${i % 10}`, { type: 'Added', data: { i } })
  await db.close()
}

t.test('scavenge: says what it removed; the second finds nothing; reads and verify unchanged', async t => {
  const path = join(root, 'scavenge')
  await build(path)
  const before = (await annals(['read', path, '--json'])).stdout
  const first = await annals(['scavenge', path])
  t.equal(first.code, 0, first.stderr)
  // cart-0: 20, cart-1: 12, cart-2: 20, cart-3: 26 less the 5 it keeps
  t.match(first.stdout, /^scavenged: removed 73 events, \d+ snapshots? and \d+ changes? of view history from the files\n$/)
  t.equal(first.stderr, '', 'no progress bar without a terminal')
  const second = await annals(['scavenge', path, '--json'])
  t.same(JSON.parse(second.stdout), { removed: 0, snapshots: 0, history: 0 })
  t.equal((await annals(['read', path, '--json'])).stdout, before, 'every read gives what it gave')
  t.equal((await annals(['verify', path])).code, 0)
  t.match(await annals(['scavenge', join(root, 'nothing-here')]), { code: 3 })
})

t.test('archive then import: the archive holds exactly the events before the bound; they read no more in the source', async t => {
  const path = join(root, 'archive')
  await build(path)
  const all = jsonLines((await annals(['read', path, '--json'])).stdout)
  const bound = 150
  const expected = (await annals(['export', path, '--to', String(bound - 1)])).stdout
  t.ok(jsonLines(expected).length > 50, 'the archive will hold many events')
  const file = join(root, 'old.jsonl.gz')
  const result = await annals(['archive', path, '--before', String(bound), file, '--json'])
  t.equal(result.code, 0, result.stderr)
  const report = JSON.parse(result.stdout)
  t.match(report, { archived: jsonLines(expected).length, before: bound, file })
  t.ok(report.removed >= report.archived, `the scavenge removed the ${report.archived} archived events and those removed before (${report.removed})`)

  const bytes = readFileSync(file)
  t.same([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'the archive is gzip-compressed')
  t.equal(gunzipSync(bytes).toString('utf8'), expected, 'it holds the lines export writes for the events before the bound')
  t.notOk(existsSync(`${file}.partial-${process.pid}`))

  // the source: what was archived reads no more, the rest reads as before
  const after = jsonLines((await annals(['read', path, '--json'])).stdout)
  t.same(after.slice(0, -1), all.filter(e => (e.position as number) >= bound), 'the events from the bound on read as before')
  t.match(after.at(-1), { stream: '$streams', type: '$LogArchived', data: { before: bound } }, 'the archive is recorded in the log')
  t.same(jsonLines((await annals(['read', path, 'cart-5', '--json'])).stdout).map(e => e.revision), all.filter(e => e.stream === 'cart-5' && (e.position as number) >= bound).map(e => e.revision))
  t.equal((await annals(['verify', path])).code, 0, 'the source verifies')

  // an import of the archive gives exactly the archived events, personal fields sealed again
  const copy = join(root, 'restored')
  const imported = await annals(['import', copy, file])
  t.equal(imported.code, 0, imported.stderr)
  t.match(imported.stderr, new RegExp(`imported ${jsonLines(expected).length} events`))
  t.equal((await annals(['export', copy])).stdout, expected, 'the restored database exports the archive again, line for line')
  t.equal((await annals(['verify', copy])).code, 0)
  const db = await open(copy)
  t.same((await collect(db.readStream('user-0')))[0]?.data, { userId: 'user-0', email: 'u0@example.com' })
  await db.shred('user-0')
  t.same((await collect(db.readStream('user-0')))[0]?.redacted, ['email'], 'and shredded there')
  await db.close()

  // a second archive, later: only what reads between the bounds
  const file2 = join(root, 'older.jsonl.gz')
  const second = JSON.parse((await annals(['archive', path, '--before', '230', file2, '--json'])).stdout)
  t.same(jsonLines(gunzipSync(readFileSync(file2)).toString('utf8')).map(e => e.position), all.filter(e => (e.position as number) >= bound && (e.position as number) < 230).map(e => e.position))
  t.equal(second.before, 230)
})

t.test('archive --before a moment: the events committed before it', async t => {
  const path = join(root, 'by-time')
  const db = await open(path)
  await db.append('a', [{ type: 'Old' }, { type: 'Old' }])
  await new Promise(resolve => setTimeout(resolve, 20))
  const { position } = await db.append('a', { type: 'New' })
  const time = (await collect(db.readAll({ from: position })))[0]!.time
  await db.close()
  const file = join(root, 'by-time.jsonl.gz')
  const result = await annals(['archive', path, '--before', new Date(time).toISOString(), file, '--json'])
  t.match(JSON.parse(result.stdout), { archived: 2, before: 2, removed: 2 })
  t.same(jsonLines(gunzipSync(readFileSync(file)).toString('utf8')).map(e => e.type), ['Old', 'Old'])
  t.same(jsonLines((await annals(['read', path, 'a', '--json'])).stdout).map(e => e.type), ['New'])
})

t.test('bad input: a bad bound, a damaged archive; nothing changed', async t => {
  const path = join(root, 'bad')
  await build(path)
  const before = (await annals(['read', path, '--json'])).stdout
  t.match(await annals(['archive', path, '--before', 'soon', join(root, 'x.gz')]), { code: 2, stderr: /--before/ })
  t.match(await annals(['archive', path, join(root, 'x.gz')]), { code: 2, stderr: /--before/ })
  t.notOk(existsSync(join(root, 'x.gz')))
  t.equal((await annals(['read', path, '--json'])).stdout, before)

  const exported = (await annals(['export', path])).stdout
  const damaged = gzipSync(exported)
  damaged[Math.floor(damaged.length / 2)]! ^= 0xff
  const file = join(root, 'damaged.jsonl.gz')
  writeFileSync(file, damaged)
  const target = join(root, 'damaged-target')
  const failed = await annals(['import', target, file])
  t.equal(failed.code, 2, failed.stderr)
  t.notOk(existsSync(target), 'the folder it would have made is not there')
  // compressed or not, from a file or standard input
  writeFileSync(join(root, 'whole.jsonl.gz'), gzipSync(exported))
  t.equal((await annals(['import', join(root, 'from-gzip'), join(root, 'whole.jsonl.gz')])).code, 0)
  t.equal((await annals(['export', join(root, 'from-gzip')])).stdout, exported)
})
