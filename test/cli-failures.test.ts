// The `annals` command, run as a child process: the messages and exit codes of what goes wrong
// (bad options, no database, a database another process holds exclusively, the master key).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { annals } from './helpers/cli.js'

const { dir: root, remove } = tempDir('annals-cli-')
t.teardown(remove)
const dir = join(root, 'db')
const personalData = { UserRegistered: { subject: 'userId', fields: ['email'] } }

t.before(async () => {
  const db = await open(dir)
  await db.append('account-1', { type: 'Opened', data: { owner: 'Ada' } })
  await db.close()
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
