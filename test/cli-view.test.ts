// `annals view`, run as a child process with the projection modules of test/fixtures: a view's
// documents now and as they were at a position or a moment; and what `info` and `verify` say
// of projections.
import t from 'tap'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from '../src/index.js'
import { encodeRecord, readRecords } from '../src/projections/checkpoints.js'
import { recordKey } from '../src/projections/keys.js'
import { LevelDoor } from '../src/backend/level/door.js'
import { tempDir } from './helpers/backends.js'
import { annals, jsonLines } from './helpers/cli.js'
// @ts-expect-error: a JavaScript module of the user's, without types
import { Balances, Types } from './fixtures/views.mjs'

const module = fileURLToPath(new URL('fixtures/views.mjs', import.meta.url))
const { dir: root, remove } = tempDir('annals-cli-view-')
t.teardown(remove)
const dir = join(root, 'db')
let between = 0

t.before(async () => {
  const db = await open(dir)
  const balances = await db.project(Balances)
  await db.project(Types)
  await db.append('account-1', { type: 'Deposited', data: { amount: 100 } }) // position 0
  await db.append('account-2', { type: 'Deposited', data: { amount: 20 } }) // position 1
  await balances.caughtUp()
  const [last] = await db.readAll({ backwards: true, limit: 1 }).toArray()
  while (Date.now() <= last!.time + 1) await new Promise(resolve => setTimeout(resolve, 2))
  between = Date.now()
  while (Date.now() <= between) await new Promise(resolve => setTimeout(resolve, 2))
  await db.append('account-1', { type: 'Withdrawn', data: { amount: 30 } }) // position 2
  await db.append('account-3', { type: 'Opened' }) // position 3
  await balances.caughtUp()
  await db.close()
})

const json = async (...args: string[]): Promise<Array<Record<string, unknown>>> => {
  const { code, stdout, stderr } = await annals(['view', dir, ...args, '--module', module, '--json'])
  if (code !== 0) throw new Error(`annals view exited with ${code}: ${stderr}`)
  return jsonLines(stdout)
}

t.test('a view now: every document, a range, one', async t => {
  t.same(await json('balances'), [{ key: 'account-1', doc: 70 }, { key: 'account-2', doc: 20 }])
  t.same(await json('balances', 'account-2'), [{ key: 'account-2', doc: 20 }])
  t.same(await json('balances', 'nobody'), [{ key: 'nobody', doc: null }])
  t.same(await json('balances', '--limit', '1'), [{ key: 'account-1', doc: 70 }])
  t.same(await json('balances', '--prefix', 'account-2'), [{ key: 'account-2', doc: 20 }])
  t.same((await json('types')).map(l => l.key), ['Deposited', 'Opened', 'Withdrawn'], 'an inline view')
  t.match((await json('types', 'Opened'))[0], { doc: { count: 1, last: { $date: /^\d{4}-/ } } }, 'dates tagged')
  const human = await annals(['view', dir, 'balances', '--module', module])
  t.equal(human.code, 0)
  t.equal(human.stdout, 'view balances now (after position 3)\naccount-1 70\naccount-2 20\n(2 documents)\n')
  t.match((await annals(['view', dir, 'balances', 'nobody', '--module', module])).stdout, /\(no document at 'nobody'\)/)
})

t.test('a view as it was', async t => {
  t.same(await json('balances', '--at-position', '1'), [{ key: 'account-1', doc: 100 }, { key: 'account-2', doc: 20 }])
  t.same(await json('balances', 'account-1', '--at-position', '0'), [{ key: 'account-1', doc: 100 }])
  t.same(await json('balances', 'account-2', '--at-position', '0'), [{ key: 'account-2', doc: null }], 'not there yet')
  t.same(await json('balances', 'account-1', '--at-time', new Date(between).toISOString()), [{ key: 'account-1', doc: 100 }])
  t.same(await json('balances', 'account-1', '--at-time', String(Date.now())), [{ key: 'account-1', doc: 70 }])
  const human = await annals(['view', dir, 'balances', 'account-1', '--module', module, '--at-time', new Date(between).toISOString()])
  t.match(human.stdout, new RegExp(`^view balances as it was at ${new Date(between).toISOString().replace(/\./g, '\\.')} \\(after position 1\\)\naccount-1 100\n$`))
})

t.test('another version than the view\'s: refused, unless --rebuild; a handler of other text: shown as stored, with a warning', async t => {
  const edited = fileURLToPath(new URL('fixtures/views-edited.mjs', import.meta.url))
  const refused = await annals(['view', dir, 'balances', '--module', `${edited}#BalancesV2`])
  t.match(refused, { code: 2, stderr: /The definition of 'balances' in .*views-edited\.mjs#BalancesV2 is not the one that built the stored view \(version 2, the view's is 1\)[^]*--rebuild/ })
  const other = await annals(['view', dir, 'balances', 'account-1', '--module', `${edited}#Balances`, '--json'])
  t.match(other, { code: 0, stderr: /ANNALS_PROJECTION_CHANGED/ })
  t.same(jsonLines(other.stdout), [{ key: 'account-1', doc: 70 }], 'the view as stored: the version decides')
  t.same(await json('balances', 'account-1'), [{ key: 'account-1', doc: 70 }], 'the view is as it was')
  const copy = join(root, 'rebuilt')
  cpSync(dir, copy, { recursive: true })
  const rebuilt = await annals(['view', copy, 'balances', 'account-1', '--module', `${edited}#BalancesV2`, '--rebuild', '--json'])
  t.same(jsonLines(rebuilt.stdout), [{ key: 'account-1', doc: -1 }], 'rebuilt with the new version')
})

t.test('mistakes', async t => {
  t.match(await annals(['view', dir, 'nope', '--module', module]), { code: 3, stderr: /exports nothing that is the definition of projection 'nope' \(it exports 'Balances', 'Types'\)/ })
  t.match(await annals(['view', dir, 'balances', '--module', `${module}#Types`]), { code: 2, stderr: /defines projection 'types', not 'balances'/ })
  t.match(await annals(['view', dir, 'balances', '--module', module, '--at-position', '1', '--at-time', '0']), { code: 2, stderr: /not both/ })
  t.match(await annals(['view', dir, 'balances']), { code: 2, stderr: /required option '--module <file>'/ })
  const fresh = join(root, 'fresh')
  cpSync(dir, fresh, { recursive: true })
  const edited = fileURLToPath(new URL('fixtures/views-edited.mjs', import.meta.url))
  const fromLog = await annals(['view', fresh, 'other', '--module', `${edited}#Other`, '--json'])
  t.match(fromLog, { code: 0, stderr: /no view 'other' was kept in this database: it is built from the log now/ })
  t.same(jsonLines(fromLog.stdout), [{ key: 'Opened', doc: 1 }], 'built from the whole log')
})

t.test('info and verify know the projections\' checkpoints', async t => {
  const info = JSON.parse((await annals(['info', dir, '--json'])).stdout)
  t.same(info.projections, [
    { name: 'balances', version: 1, position: 3, lag: 0, state: 'up to date' },
    { name: 'types', version: 1, position: 3, lag: 0, state: 'up to date' }
  ])
  t.match((await annals(['info', dir])).stdout, /projections\n {2}balances v1 +handled up to position 3, up to date\n {2}types v1 +handled up to position 3, up to date\n/)
  t.match(await annals(['verify', dir]), { code: 0, stdout: /✓ 2 checkpoints of subscriptions and projections, none past the end of the log/ })
  // a checkpoint past the end of the log
  const damaged = join(root, 'damaged')
  cpSync(dir, damaged, { recursive: true })
  const storage = await LevelDoor.openPath(damaged)
  const { active } = await readRecords(storage, 'balances')
  await storage.write([{ key: recordKey('balances', false), value: encodeRecord(active!, 100) }], true)
  await storage.close()
  const { code, stdout } = await annals(['verify', damaged])
  t.equal(code, 1)
  t.match(stdout, /The checkpoint of projection 'balances' is at position 100, past the end of the log \(4\)/)
  t.match(JSON.parse((await annals(['info', damaged, '--json'])).stdout).projections[0], { name: 'balances', position: 99, lag: 0 })
})
