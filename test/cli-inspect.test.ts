// The `annals` command, run as a child process against a database this test builds: info,
// streams, read and shred, their human and JSON output, and the messages and exit codes of
// what goes wrong (no database, bad options, a database open elsewhere, the master key).
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { open } from '../src/index.js'
import { fromJsonValue } from '../src/cli/json-value.js'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { annals, cliMain, jsonLines } from './helpers/cli.js'

const { dir: root, remove } = tempDir('annals-cli-')
t.teardown(remove)
const dir = join(root, 'db')
const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }

t.before(async () => {
  const db = await open(dir, { personalData })
  await db.append('account-1', [
    { type: 'Opened', data: { owner: 'Ada', at: new Date('2024-05-01T10:00:00Z') }, metadata: { by: 'clerk-3' } },
    { type: 'Deposited', data: { amount: 100 } }
  ])
  await db.append('account-2', { type: 'Opened', data: { owner: 'Grace' } })
  await db.append('account-1', { type: 'Withdrawn', data: { amount: 30 }, id: 'withdrawal-1' })
  await db.append('user-7', { type: 'UserRegistered', data: { userId: 'user-7', email: 'ada@example.com' } })
  // a durable subscription that handled the first two events
  let seen = 0
  const sub = db.subscribe({ name: 'mailer' }, () => { if (++seen === 2) void sub.close() })
  while (seen < 2) await new Promise(resolve => setTimeout(resolve, 5))
  await sub.close()
  await db.close()
})

const noColour = (t: Test, text: string): void => { t.notMatch(text, /\x1b\[/, 'no colour without a terminal') }

t.test('info', async t => {
  const human = await annals(['info', dir])
  t.equal(human.code, 0)
  t.match(human.stdout, /events\s+5 \(positions 0 to 4\)/)
  t.match(human.stdout, /streams\s+3/)
  t.match(human.stdout, /mailer\s+handled up to position 1, 3 events behind/)
  t.match(human.stdout, /shredded subjects\s+0/)
  noColour(t, human.stdout)
  const json = JSON.parse((await annals(['info', dir, '--json'])).stdout)
  t.match(json, { events: 5, streams: 3, shreddedSubjects: 0, subscriptions: [{ name: 'mailer', position: 1, lag: 3 }] })
  t.ok(json.sizeBytes > 0)
  t.ok(json.firstTime <= json.lastTime)
})

t.test('streams', async t => {
  const human = await annals(['streams', dir])
  t.equal(human.code, 0)
  const names = human.stdout.split('\n').slice(1).filter(Boolean).map(line => line.trim().split(/\s+/))
  t.same(names.map(([revision, , stream]) => [stream, revision]), [['account-1', '2'], ['account-2', '0'], ['user-7', '0']])
  const json = jsonLines((await annals(['streams', dir, '--json', '--prefix', 'account-'])).stdout)
  t.same(json.map(s => [s.stream, s.revision, s.position]), [['account-1', 2, 3], ['account-2', 0, 2]])
  t.type(json[0]!.time, 'number')
  const limited = await annals(['streams', dir, '--limit', '1'])
  t.match(limited.stdout, /account-1/)
  t.notMatch(limited.stdout, /account-2/)
  t.match(limited.stdout, /the first 1; raise --limit/)
  t.match((await annals(['streams', dir, '--prefix', 'nobody'])).stdout, /no streams start with 'nobody'/)
})

t.test('read: a stream, for a person', async t => {
  const { code, stdout, stderr } = await annals(['read', dir, 'account-1'])
  t.equal(code, 0)
  t.equal(stderr, '')
  noColour(t, stdout)
  const blocks = stdout.split('\n\n')
  t.match(blocks[0]!, /^#0 Opened {2}account-1@0 {2}\d{4}-\d\d-\d\dT/)
  t.match(blocks[0]!, /data {5}\{ owner: 'Ada', at: 2024-05-01T10:00:00\.000Z \}/)
  t.match(blocks[0]!, /metadata \{ by: 'clerk-3' \}/)
  t.match(blocks[2]!, /^#3 Withdrawn {2}account-1@2/)
  t.match(blocks[2]!, /id {7}withdrawal-1/)
  t.match(stdout, /\(3 events\)\n$/)
})

t.test('read: JSON Lines with the field names of RecordedEvent', async t => {
  const db = await open(dir, { personalData })
  const expected = await db.readAll().toArray()
  await db.close()
  const { code, stdout } = await annals(['read', dir, '--json'])
  t.equal(code, 0)
  const lines = jsonLines(stdout)
  t.same(lines.map(l => Object.keys(l)), expected.map(() => ['id', 'stream', 'revision', 'position', 'type', 'version', 'data', 'metadata', 'time']))
  t.same(lines.map(l => ({ ...l, data: fromJsonValue(l.data), metadata: fromJsonValue(l.metadata) })), expected, 'every event, dates and all')
  t.same(lines[0]!.data, { owner: 'Ada', at: { $date: '2024-05-01T10:00:00.000Z' } }, 'a date is tagged')
  t.equal(lines[4]!.data && (lines[4]!.data as { email: string }).email, 'ada@example.com', 'personal fields readable')
})

t.test('read: ranges, direction, limits and types', async t => {
  const positions = async (...args: string[]): Promise<number[]> => jsonLines((await annals(['read', dir, ...args, '--json'])).stdout).map(e => e.position as number)
  t.same(await positions('--from', '1', '--to', '3'), [1, 2, 3])
  t.same(await positions('--backwards', '--limit', '2'), [4, 3])
  t.same(await positions('--type', 'Opened'), [0, 2])
  t.same(await positions('--type', 'Opened', '--type', 'Withdrawn'), [0, 2, 3])
  t.same(await positions('account-1', '--from', '2', '--backwards'), [3, 1, 0], 'a stream: --from is a revision')
  t.same(await positions('account-1', '--type', 'Deposited', '--limit', '1'), [1])
  t.match((await annals(['read', dir, 'nobody'])).stdout, /\(no events\)/)
})

t.test('a reader that goes away early is no failure', async t => {
  const { stdout, stderr } = await promisify(execFile)('sh', ['-c', `"${process.execPath}" "${cliMain}" read "${dir}" --json | head -n 1; "${process.execPath}" "${cliMain}" --help | head -n 1`])
  t.equal(stdout.split('\n').filter(Boolean).length, 2)
  t.equal(stderr, '', 'no EPIPE trace')
})

t.test('bad usage: a message and exit code 2, no stack trace', async t => {
  for (const args of [['read', dir, '--limit', 'ten'], ['read', dir, '--from', '-1'], ['info', dir, '--colour'], ['teleport', dir], ['info']]) {
    const { code, stderr } = await annals(args)
    t.equal(code, 2, args.join(' '))
    t.match(stderr, /error: /)
    t.notMatch(stderr, /\n\s+at /)
  }
  const { code, stdout } = await annals(['read', '--help'])
  t.equal(code, 0)
  t.match(stdout, /Examples:\n {2}\$ annals read/)
})

t.test('no database there: exit code 3, nothing created', async t => {
  const missing = join(root, 'missing')
  const { code, stderr } = await annals(['info', missing])
  t.equal(code, 3)
  t.match(stderr, /There is no database at .*missing: no such folder/)
  t.equal((await annals(['read', missing])).code, 3)
  const notDb = join(root, 'not-a-db')
  mkdirSync(notDb)
  writeFileSync(join(notDb, 'notes.txt'), 'hello')
  t.match(await annals(['streams', notDb]), { code: 3, stderr: /not a LevelDB database/ })
})

t.test('a database another process holds with exclusive: true: exit code 4, and what to do', async t => {
  const child = await startChild('hold-open.mjs', [dir, 'exclusive'])
  t.teardown(async () => { await kill(child) })
  for (const command of [['info', dir], ['read', dir], ['verify', dir], ['export', dir]]) {
    const { code, stdout, stderr } = await annals(command)
    t.equal(code, 4, command[0]!)
    t.match(stderr, /is open in another process that admits no other/)
    t.match(stderr, /Run this again once it is closed; for a copy of a live database, use `annals backup`/)
    t.notMatch(stderr, /\n\s+at /, 'no stack trace')
    t.equal(stdout, '')
  }
})

t.test('the master key: exit code 5 without it, a file or the environment with it', async t => {
  const keyed = join(root, 'keyed')
  const key = randomBytes(32)
  const db = await open(keyed, { masterKey: key, personalData })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'b@example.com' } })
  await db.close()
  const without = await annals(['read', keyed])
  t.equal(without.code, 5)
  t.match(without.stderr, /--master-key-file/)
  t.match(without.stderr, /ANNALS_MASTER_KEY/)
  const keyFile = join(root, 'master.key')
  writeFileSync(keyFile, key)
  t.match((await annals(['read', keyed, '--json', '--master-key-file', keyFile])).stdout, /b@example\.com/, 'raw bytes in a file')
  writeFileSync(keyFile, key.toString('hex') + '\n')
  t.match((await annals(['read', keyed, '--json', '--master-key-file', keyFile])).stdout, /b@example\.com/, 'hex in a file')
  t.match((await annals(['read', keyed, '--json'], { env: { ANNALS_MASTER_KEY: key.toString('base64') } })).stdout, /b@example\.com/, 'base64 in the environment')
  t.equal((await annals(['read', keyed], { env: { ANNALS_MASTER_KEY: randomBytes(32).toString('hex') } })).code, 5, 'a wrong key')
  t.match(await annals(['read', keyed], { env: { ANNALS_MASTER_KEY: 'not a key' } }), { code: 2, stderr: /does not hold a master key/ })
})

t.test('shred', async t => {
  const refused = await annals(['shred', dir, 'user-7'])
  t.equal(refused.code, 2, 'not on a terminal: --yes is needed')
  t.match(refused.stderr, /--yes/)
  t.match((await annals(['read', dir, 'user-7', '--json'])).stdout, /ada@example\.com/, 'nothing was shredded')
  const done = await annals(['shred', dir, 'user-7', '--yes'])
  t.equal(done.code, 0)
  t.match(done.stdout, /shredded user-7/)
  const [event] = jsonLines((await annals(['read', dir, 'user-7', '--json'])).stdout)
  t.same(event!.data, { userId: 'user-7', email: null })
  t.same(event!.redacted, ['email'])
  t.match((await annals(['read', dir, 'user-7'])).stdout, /redacted email \(shredded: read as null\)/)
  t.match(JSON.parse((await annals(['info', dir, '--json'])).stdout), { shreddedSubjects: 1 })
})
