// `annals at`, run as a child process: an aggregate's state now, after a revision, at a position
// and at a moment, loaded with db.load from the user's module (a defineAggregate definition, a
// plain object, or TypeScript).
import t from 'tap'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { annals } from './helpers/cli.js'

const fixtures = fileURLToPath(new URL('fixtures/', import.meta.url))
const balance = join(fixtures, 'balance-aggregate.mjs#Balance')
const { dir: root, remove } = tempDir('annals-cli-at-')
t.teardown(remove)
const dir = join(root, 'db')
const times: number[] = []

t.before(async () => {
  const db = await open(dir)
  const amounts = [100, -30, -80, 50, -100]
  for (const [i, amount] of amounts.entries()) {
    // another stream between them: positions and revisions differ
    await db.append('other', { type: 'Noise' })
    await db.append('account-1', { type: amount > 0 ? 'Deposited' : 'Withdrawn', data: { amount: Math.abs(amount) } })
    const [last] = await db.readStream('account-1', { backwards: true, limit: 1 }).toArray()
    times.push(last!.time)
    // distinct commit times for each deposit or withdrawal
    if (i < amounts.length - 1) while (Date.now() <= last!.time) await new Promise(resolve => setTimeout(resolve, 1))
  }
  await db.close()
})

const at = async (...args: string[]): Promise<Record<string, unknown>> => {
  const { code, stdout, stderr } = await annals(['at', dir, 'account-1', '--aggregate', balance, '--json', ...args])
  if (code !== 0) throw new Error(`annals at exited with ${code}: ${stderr}`)
  return JSON.parse(stdout)
}

t.test('now, after a revision, at a position, at a moment', async t => {
  t.match(await at(), { stream: 'account-1', revision: 4, position: 9, time: times[4], state: { balance: -60 } })
  t.match(await at('--revision', '2'), { revision: 2, position: 5, time: times[2], state: { balance: -10 } })
  t.match(await at('--position', '4'), { revision: 1, position: 3, state: { balance: 70 } }, 'the stream\'s last event at or before position 4')
  t.match(await at('--time', new Date(times[3]!).toISOString()), { revision: 3, state: { balance: 40 } })
  t.match(await at('--time', String(times[3]! - 1)), { revision: 2, state: { balance: -10 } }, 'milliseconds since the epoch')
  t.match(await at('--time', '2000-01-01'), { revision: -1, position: -1, time: null, state: { balance: 0 } }, 'before the first event: the initial state')
  const human = await annals(['at', dir, 'account-1', '--aggregate', balance, '--revision', '2'])
  t.equal(human.code, 0)
  t.match(human.stdout, /^account-1 after revision 2: revision 2 \(position 5, committed \d{4}-.*Z\)\nstate \{ balance: -10 \}\n$/)
  t.match((await annals(['at', dir, 'nobody', '--aggregate', balance])).stdout, /nobody now: no event yet: the initial state/)
})

t.test('loads keep the aggregate\'s snapshots, which info counts', async t => {
  // Balance keeps a snapshot every 2 revisions: loads of the whole stream wrote those of 1 and 3
  t.match(JSON.parse((await annals(['info', dir, '--json'])).stdout).snapshots, [{ aggregate: 'balance', version: 1, count: 2 }])
  t.match((await annals(['info', dir])).stdout, /snapshots\s+2 \(balance v1: 2\)/)
})

t.test('a plain object, or a TypeScript module, is defined as an aggregate', async t => {
  const plain = await annals(['at', dir, 'account-1', '--aggregate', join(fixtures, 'account-aggregate.mjs#Account'), '--json', '--revision', '1'])
  t.match(JSON.parse(plain.stdout), { state: { balance: 70, owner: null } })
  const ts = await annals(['at', dir, 'account-1', '--aggregate', join(fixtures, 'account-aggregate.ts'), '--json'])
  t.match(JSON.parse(ts.stdout), { state: { balance: -60 } })
})

t.test('mistakes and failures', async t => {
  const both = await annals(['at', dir, 'account-1', '--aggregate', balance, '--revision', '1', '--time', '2024-01-01'])
  t.match(both, { code: 2, stderr: /Give one of --revision, --position and --time, not --revision and --time/ })
  t.match(await annals(['at', dir, 'account-1', '--aggregate', balance, '--time', 'yesterday']), { code: 2, stderr: /option '--time <time>' argument 'yesterday' is invalid/ })
  const failing = await annals(['at', dir, 'account-1', '--aggregate', join(fixtures, 'balance-aggregate.mjs#Failing')])
  t.match(failing, { code: 7, stderr: /Aggregate 'failing' failed on stream 'account-1': evolve\(\) of revision 0 \(Deposited\) threw: evolve is broken/ })
  const several = await annals(['at', dir, 'account-1', '--aggregate', join(fixtures, 'balance-aggregate.mjs')])
  t.match(several, { code: 2, stderr: /exports several: 'Balance', 'Failing'; pick one with .*balance-aggregate\.mjs#Balance/ })
})
