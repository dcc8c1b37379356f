// The `annals` command, run as a child process against a database this test builds: info,
// streams and shred, their human and JSON output (read: cli-read.test.ts; what goes wrong:
// cli-failures.test.ts).
import t from 'tap'
import { accountsFolder, noColour } from './helpers/cli-folders.js'
import { annals, jsonLines } from './helpers/cli.js'

const { dir } = accountsFolder(t)

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
