// The command line and schema evolution, run as child processes: commands read events as
// stored unless given the application's declarations (--events), then as the application reads
// them; `read --stored` and `export --stored` show them as stored; an upcast export imports at
// the current versions; `verify --events` finds every event that does not upcast.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { annals, jsonLines } from './helpers/cli.js'

const { dir: root, remove } = tempDir('annals-cli-evolution-')
t.teardown(remove)
const dir = join(root, 'db')
const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }
const module = join(root, 'events.mjs')
const declarations = `{
  PhotoUploaded: { version: 2, upcast: { 1: e => ({ ...e, type: 'PhotoAdded', data: { ...e.data, camera: null } }) } },
  PhotoAdded: { version: 3, upcast: { 1: e => e, 2: e => ({ ...e, data: { ...e.data, tags: [] } }) } },
  UserRegistered: { version: 2, upcast: { 1: e => ({ ...e, data: { userId: e.data.userId, contact: { email: e.data.email } } }) } }
}`
writeFileSync(module, `export const events = ${declarations}\nexport const other = 1\n`)

t.before(async () => {
  let db = await open(dir, { personalData })
  await db.append('album', { type: 'PhotoUploaded', data: { photoId: 'p0', title: 'Dunes' } })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } })
  await db.close()
  const { events } = await import(module) as { events: never }
  db = await open(dir, { personalData, events })
  await db.append('album', { type: 'PhotoAdded', data: { photoId: 'p1', title: 'Harbour', camera: 'X', tags: ['sea'] } })
  await db.close()
})

const brief = (line: Record<string, unknown>): unknown[] => [line.type, line.version, line.data]
const STORED = [
  ['PhotoUploaded', 1, { photoId: 'p0', title: 'Dunes' }],
  ['UserRegistered', 1, { userId: 'user-1', email: 'a@example.com' }],
  ['PhotoAdded', 3, { photoId: 'p1', title: 'Harbour', camera: 'X', tags: ['sea'] }]
]
const UPCAST = [
  ['PhotoAdded', 3, { photoId: 'p0', title: 'Dunes', camera: null, tags: [] }],
  ['UserRegistered', 2, { userId: 'user-1', contact: { email: 'a@example.com' } }],
  ['PhotoAdded', 3, { photoId: 'p1', title: 'Harbour', camera: 'X', tags: ['sea'] }]
]

t.test('read: as stored without --events, upcast with it, as stored with --stored', async t => {
  const plain = await annals(['read', dir, '--json'])
  t.equal(plain.code, 0, plain.stderr)
  t.same(jsonLines(plain.stdout).map(brief), STORED)
  const upcast = await annals(['read', dir, '--json', '--events', module])
  t.equal(upcast.code, 0, upcast.stderr)
  t.same(jsonLines(upcast.stdout).map(brief), UPCAST)
  const stored = await annals(['read', dir, '--json', '--events', module, '--stored'])
  t.equal(stored.stdout, plain.stdout, '--stored reads as stored')
  t.same(jsonLines((await annals(['read', dir, '--json', '--events', module, '--type', 'PhotoAdded'])).stdout).map(l => l.position), [0, 2], 'a renamed type by its new name')
  t.same(jsonLines((await annals(['read', dir, 'album', '--json', '--events', module, '--stored', '--type', 'PhotoUploaded'])).stdout).map(l => l.position), [0], 'and by its stored one, as stored')
  const human = await annals(['read', dir, 'album', '--events', module])
  t.match(human.stdout, /#0 PhotoAdded v3 {2}album@0/)
  t.match((await annals(['read', dir, 'album', '--limit', '1'])).stdout, /#0 PhotoUploaded {2}album@0/, 'version 1 is not shown')
})

t.test('at folds events upcast with --events', async t => {
  const aggregate = join(root, 'types.mjs')
  writeFileSync(aggregate, "export const Types = { name: 'types', initial: () => [], evolve: (s, e) => [...s, `${e.type}/${e.version}`] }\n")
  const at = await annals(['at', dir, 'album', '--aggregate', aggregate, '--json', '--events', module])
  t.equal(at.code, 0, at.stderr)
  t.same(JSON.parse(at.stdout).state, ['PhotoAdded/3', 'PhotoAdded/3'])
  const without = await annals(['at', dir, 'album', '--aggregate', aggregate, '--json'])
  t.same(JSON.parse(without.stdout).state, ['PhotoUploaded/1', 'PhotoAdded/3'])
})

t.test('export: upcast with --events, as stored with --stored; an upcast export imports at the current versions', async t => {
  const upcast = await annals(['export', dir, '--events', module])
  t.equal(upcast.code, 0, upcast.stderr)
  const lines = jsonLines(upcast.stdout)
  t.same(lines.map(brief), UPCAST)
  t.same(lines[1]!.personal, { 'contact.email': 'user-1' }, 'a personal field listed where the step put it')
  const stored = await annals(['export', dir, '--events', module, '--stored'])
  t.same(jsonLines(stored.stdout).map(brief), STORED)
  t.equal((await annals(['export', dir])).stdout, stored.stdout, 'without --events, the export is as stored')

  const file = join(root, 'upcast.jsonl')
  writeFileSync(file, upcast.stdout)
  const copy = join(root, 'copy')
  const imported = await annals(['import', copy, file])
  t.equal(imported.code, 0, imported.stderr)
  t.same(jsonLines((await annals(['read', copy, '--json'])).stdout).map(brief), UPCAST, 'imported at the current versions: read so without any step')
  t.equal((await annals(['export', copy])).stdout, upcast.stdout, 'and exported again, the same file')
  const db = await open(copy)
  await db.shred('user-1')
  const [user] = await db.readStream('user-1').toArray()
  t.same([user!.data, user!.redacted], [{ userId: 'user-1', contact: { email: null } }, ['contact.email']], 'the personal field was sealed again where it is now')
  await db.close()

  const storedFile = join(root, 'stored.jsonl')
  writeFileSync(storedFile, stored.stdout)
  const same = join(root, 'same')
  t.equal((await annals(['import', same, storedFile])).code, 0)
  t.same(jsonLines((await annals(['read', same, '--json', '--events', module])).stdout).map(brief), UPCAST, 'a stored export imports as stored, and upcasts the same')
})

t.test('verify --events: every stored event upcasts, or each that does not is named', async t => {
  const good = await annals(['verify', dir, '--events', module])
  t.equal(good.code, 0, good.stdout)
  t.match(good.stdout, /2 events stored at an older version of their types upcast to the current one/)
  t.notMatch((await annals(['verify', dir])).stdout, /upcast/, 'no such line without --events')
  const failing = join(root, 'failing.mjs')
  writeFileSync(failing, `const events = ${declarations}\nevents.PhotoUploaded.upcast[1] = () => { throw new Error('no') }\nexport default events\n`)
  const bad = await annals(['verify', dir, '--events', failing, '--json'])
  t.equal(bad.code, 1)
  const report = JSON.parse(bad.stdout) as { ok: boolean, upcast: number, problems: Array<{ check: string, position: number }> }
  t.same([report.ok, report.upcast, report.problems.map(p => [p.check, p.position])], [false, 1, [['upcasts', 0]]])
  const read = await annals(['read', dir, '--events', failing])
  t.equal(read.code, 7, 'a failing step is the user\'s code failing')
  t.match(read.stderr, /position 0/)
})

t.test('--events mistakes: a usage error or a missing module, and nothing opened', async t => {
  t.equal((await annals(['read', dir, '--events', join(root, 'nowhere.mjs')])).code, 3)
  const none = join(root, 'none.mjs')
  writeFileSync(none, 'export const x = 1\n')
  t.equal((await annals(['read', dir, '--events', none])).code, 3)
  const malformed = join(root, 'malformed.mjs')
  writeFileSync(malformed, "export default { PhotoAdded: { version: 2, upcast: { 3: e => e } } }\n")
  const result = await annals(['read', dir, '--events', malformed])
  t.equal(result.code, 2)
  t.match(result.stderr, /PhotoAdded/)
  t.equal((await annals(['read', dir, '--events', `${module}#other`])).code, 2, 'an export that is not declarations')
})
