// `annals replay`, run as a child process with aggregate modules of test/fixtures: each event
// with what it changed, `--until` finding the event after which the expression first holds,
// stepping (next, back, jump, state, quit), TypeScript modules, and the errors of user code.
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { annals, jsonLines } from './helpers/cli.js'

const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url))
const account = join(fixtures, 'account-aggregate.mjs#Account')
const { dir: root, remove } = tempDir('annals-cli-replay-')
t.teardown(remove)
const dir = join(root, 'db')

t.before(async () => {
  const db = await open(dir, { personalData: { UserRegistered: { subject: 'userId', fields: ['email'] } } })
  await db.append('account-1', [{ type: 'Opened', data: { owner: 'Ada' } }, { type: 'Deposited', data: { amount: 100 } }])
  await db.append('account-2', { type: 'Opened', data: { owner: 'Grace' } })
  await db.append('account-1', [
    { type: 'Withdrawn', data: { amount: 30 } },
    { type: 'Withdrawn', data: { amount: 80 } }, // the balance goes negative here: revision 3
    { type: 'Deposited', data: { amount: 50 } }, // and back: revision 4
    { type: 'Withdrawn', data: { amount: 100 } } // negative again: revision 5
  ])
  await db.append('broken', [{ type: 'Deposited', data: { amount: 1 } }, { type: 'Broken' }])
  await db.append('user-1', [{ type: 'UserRegistered', data: { userId: 'user-1', email: 'ada@example.com' } }, { type: 'LoggedIn' }])
  await db.close()
})

t.test('every event and what it changed', async t => {
  const { code, stdout } = await annals(['replay', dir, 'account-1', '--aggregate', account])
  t.equal(code, 0)
  const blocks = stdout.trim().split('\n\n')
  t.equal(blocks.length, 6)
  t.match(blocks[0], /^#0 Opened {2}account-1@0 .*\n {2}data \{ owner: 'Ada' \}\n {2}~ state\.owner: null → 'Ada'$/)
  t.match(blocks[1], /~ state\.balance: 0 → 100$/)
  t.match(blocks[3], /^#4 Withdrawn {2}account-1@3[^]*~ state\.balance: 70 → -10$/)
  const part = await annals(['replay', dir, 'account-1', '--aggregate', account, '--from', '2', '--to', '3'])
  t.match(part.stdout, /^#3 Withdrawn {2}account-1@2[^]*~ state\.balance: 100 → 70\n\n#4 Withdrawn[^]*70 → -10\n\n$/, 'the events before --from are folded, not shown')
  const json = jsonLines((await annals(['replay', dir, 'account-1', '--aggregate', account, '--json', '--to', '1'])).stdout)
  t.same(json.map(l => l.changes), [
    [{ op: 'set', path: ['owner'], from: null, to: 'Ada' }],
    [{ op: 'set', path: ['balance'], from: 0, to: 100 }]
  ])
  t.match(json[1]!.event, { stream: 'account-1', revision: 1, position: 1, type: 'Deposited', data: { amount: 100 } })
})

t.test('--until stops at the first event after which the expression holds', async t => {
  const { code, stdout } = await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance < 0'])
  t.equal(code, 0)
  t.match(stdout, /▶ #4 Withdrawn {2}account-1@3/, 'the event that did it is marked')
  t.match(stdout, /stopped: after revision 3 \(position 4, Withdrawn\), state\.balance < 0 holds/)
  t.match(stdout, /#0 Opened[^]*#1 Deposited[^]*#3 Withdrawn[^]*▶ #4/, 'the events that led there')
  t.notMatch(stdout, /#5 Deposited/, 'nothing after it')
  const short = await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance < 0', '--context', '1'])
  t.match(short.stdout, /^\(2 earlier events folded; --context 3 to see them\)\n\n#3 Withdrawn/)
  const later = jsonLines((await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance < 0 && event.revision > 3', '--json'])).stdout)
  t.same(later.at(-1), { until: 'state.balance < 0 && event.revision > 3', held: true, revision: 5, position: 6, state: { balance: -60, owner: 'Ada' } }, 'event is there too')
  const fromThere = jsonLines((await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance < 0', '--from', '4', '--json'])).stdout)
  t.match(fromThere.at(-1), { held: true, revision: 5 }, '--from: the condition is looked for from there')
})

t.test('--until that never holds, or is not an expression, or throws', async t => {
  const never = await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance > 1000'])
  t.equal(never.code, 1)
  t.match(never.stdout, /never held: state\.balance > 1000 was false after every event \(account over 6 events\)/)
  const bad = await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.balance <'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--until 'state\.balance <' is not a JavaScript expression/)
  const throws = await annals(['replay', dir, 'account-1', '--aggregate', account, '--until', 'state.nothing.deeper'])
  t.equal(throws.code, 7)
  t.match(throws.stderr, /--until 'state\.nothing\.deeper' threw after revision 0 \(position 0\)/)
})

t.test('stepping: next, back, jump, state, quit', async t => {
  const { code, stdout } = await annals(['replay', dir, 'account-1', '--aggregate', account, '--step'], { input: 'n\nb\nj 4\ns\nhelp\nq\n' })
  t.equal(code, 0)
  const shown = [...stdout.matchAll(/#(\d+) (\w+) {2}account-1@(\d+)/g)].map(m => Number(m[3]))
  t.same(shown, [0, 1, 0, 4], 'first, next, back, jump 4')
  t.match(stdout, /4 > state \{ balance: 40, owner: 'Ada' \}/)
  t.match(stdout, /n next · b back · j <revision> jump · s state · q quit\n4 > $/, 'help for an unknown command')
  const end = await annals(['replay', dir, 'account-1', '--aggregate', account, '--step', '--from', '5'], { input: 'n\n' })
  t.match(end.stdout, /\(end of the stream, at revision 5\)/, 'the end; then standard input ends, and so does the replay')
  t.equal(end.code, 0)
})

t.test('a TypeScript module', async t => {
  const { code, stdout, stderr } = await annals(['replay', dir, 'account-1', '--aggregate', join(fixtures, 'account-aggregate.ts'), '--until', 'state.history.size === 3'])
  t.equal(stderr, '')
  t.equal(code, 0)
  t.match(stdout, /stopped: after revision 3/)
  t.match(stdout, /\+ state\.history\["3"\]: -10/, 'a Map in the state is compared as an object')
})

t.test('personal fields: evolve gets them sealed, the replay shows them opened, or null once shredded', async t => {
  const profile = join(fixtures, 'account-aggregate.mjs#Profile')
  const { code, stdout } = await annals(['replay', dir, 'user-1', '--aggregate', profile, '--until', 'state.email === "ada@example.com"'])
  t.equal(code, 0)
  t.match(stdout, /~ state\.email: null → 'ada@example\.com'/)
  t.match(stdout, /stopped: after revision 0/)
  t.equal((await annals(['shred', dir, 'user-1', '--yes'])).code, 0)
  const after = await annals(['replay', dir, 'user-1', '--aggregate', profile])
  t.match(after.stdout, /data \{ userId: 'user-1', email: null \}\n {2}\(no change to the state\)/)
  t.match(after.stdout, /~ state\.logins: 0 → 1/)
})

t.test('the user\'s module and code failing', async t => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--aggregate', join(fixtures, 'nowhere.mjs')], 3, /There is no module .*nowhere\.mjs/],
    [['--aggregate', join(fixtures, 'account-aggregate.mjs#Acount')], 3, /has no export 'Acount' \(it exports 'Account', 'Profile', 'notAnAggregate'\)/],
    [['--aggregate', join(fixtures, 'account-aggregate.mjs#notAnAggregate')], 2, /The export 'notAnAggregate' of .* is not an aggregate definition/],
    [['--aggregate', join(fixtures, 'throws-on-load.mjs')], 7, /failed to load: the module is broken/],
    [[], 2, /required option '--aggregate <module>' not specified/]
  ]
  for (const [args, code, message] of cases) {
    const result = await annals(['replay', dir, 'account-1', ...args])
    t.equal(result.code, code, args.join(' '))
    t.match(result.stderr, message)
  }
  const broken = await annals(['replay', dir, 'broken', '--aggregate', account])
  t.equal(broken.code, 7)
  t.match(broken.stderr, /evolve of account threw at revision 1 \(position 8, Broken\): this event breaks evolve/)
  t.match(broken.stdout, /#7 Deposited/, 'the events before it were shown')
})
