// `annals export` and `annals import`, run as child processes: an export imported into an empty
// database and exported again is the same file, byte for byte (ids, streams, revisions,
// positions, times, metadata, awkward values, personal fields and shredded ones). A bad import:
// cli-import-errors.test.ts.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { awkwardFolder } from './helpers/cli-folders.js'
import { annals, jsonLines } from './helpers/cli.js'

const { root, dir } = awkwardFolder(t)

t.test('export, import into an empty database, export again: the same file', async t => {
  const first = join(root, 'first.jsonl')
  const out = await annals(['export', dir, '--out', first])
  t.equal(out.code, 0)
  t.match(out.stderr, /exported 45 events to/)
  const stdout = await annals(['export', dir])
  t.equal(stdout.stdout, readFileSync(first, 'utf8'), 'standard output and --out agree')
  t.equal(stdout.stderr, '', 'nothing on standard error when it is not a terminal')

  const lines = jsonLines(stdout.stdout)
  t.equal(lines.length, 45)
  t.same(lines.map(l => l.position), [...Array(45).keys()])
  t.same(lines[0], {
    id: lines[0]!.id,
    stream: 'user-1',
    revision: 0,
    position: 0,
    type: 'UserRegistered',
    version: 1,
    data: { userId: 'user-1', email: 'a@example.com', address: { street: '1 Main St', city: 'Turin' } },
    metadata: {},
    time: lines[0]!.time,
    personal: { email: 'user-1', 'address.street': 'user-1' }
  }, 'personal fields readable, and which they are')
  t.same(lines[1]!.redacted, ['email', 'address.street'], 'a shredded subject\'s fields listed as redacted')
  t.same((lines[1]!.data as Record<string, unknown>).email, null)
  t.same(lines[2]!.data, {
    when: { $date: '1970-01-02T00:00:00.000Z' },
    bytes: { $bytes: 'AAH/' },
    big: { $bigint: '-9223372036854775808' },
    nan: { $number: 'NaN' },
    nothing: { $undefined: true },
    tag: { $object: { $date: 'mine' } }
  }, 'values JSON cannot say are tagged')
  t.same(lines[2]!.metadata, { correlation: 'c-1', nested: { n: 1 } })

  const copy = join(root, 'copy')
  const imported = await annals(['import', copy, first])
  t.equal(imported.code, 0)
  t.match(imported.stderr, /imported 45 events/)
  const again = await annals(['export', copy])
  t.equal(again.stdout, stdout.stdout, 'the second export is the first, byte for byte')
  t.equal((await annals(['read', copy, '--json'])).stdout, (await annals(['read', dir, '--json'])).stdout, 'reads agree')
  t.equal((await annals(['verify', copy])).code, 0, 'the imported database verifies')

  // the copy is a database of its own: its subjects' keys are its own, and shred there
  t.equal((await annals(['shred', copy, 'user-1', '--yes'])).code, 0)
  t.same(jsonLines((await annals(['read', copy, 'user-1', '--json'])).stdout)[0]!.redacted, ['email', 'address.street'])
  t.same(jsonLines((await annals(['read', dir, 'user-1', '--json'])).stdout)[0]!.redacted, undefined, 'the original is untouched')
})

t.test('a part of the log, and --redact', async t => {
  const part = jsonLines((await annals(['export', dir, '--from', '2', '--to', '4'])).stdout)
  t.same(part.map(l => l.position), [2, 3, 4])
  const redacted = jsonLines((await annals(['export', dir, '--redact', '--to', '1'])).stdout)
  t.same(redacted.map(l => l.data), [
    { userId: 'user-1', email: null, address: { street: null, city: 'Turin' } },
    { userId: 'user-2', email: null, address: { street: null, city: 'Rome' } }
  ])
  t.same(redacted.map(l => l.redacted), [['email', 'address.street'], ['email', 'address.street']])
  // a redacted export imported: those fields are unreadable in the new database too
  const file = join(root, 'redacted.jsonl')
  writeFileSync(file, (await annals(['export', dir, '--redact'])).stdout)
  const copy = join(root, 'redacted-copy')
  t.equal((await annals(['import', copy, file])).code, 0)
  t.same(jsonLines((await annals(['read', copy, 'user-1', '--json'])).stdout)[0]!.redacted, ['email', 'address.street'])
  t.equal((await annals(['export', copy, '--redact'])).stdout, readFileSync(file, 'utf8'))
})

t.test('import from standard input', async t => {
  const copy = join(root, 'piped')
  const exported = (await annals(['export', dir])).stdout
  const { code } = await annals(['import', copy, '-'], { input: exported })
  t.equal(code, 0)
  t.equal((await annals(['export', copy])).stdout, exported)
})
