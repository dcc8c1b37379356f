// The command line on a database this test process holds open (its owner): every command that
// reads works as a client of this process; tail follows new events; backup makes a copy that
// opens and verifies clean, personal data and all.
import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { annals, cliMain, jsonLines } from './helpers/cli.js'

const personal = { subject: 'userId', fields: ['email'] }

t.test('the command line on a live database', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const db = await open(path, { personalData: { UserRegistered: personal } })
  t.teardown(async () => { await db.close() })
  for (let i = 0; i < 30; i++) await db.append(`user-${i % 4}`, { type: 'UserRegistered', data: { userId: `user-${i % 4}`, email: `u${i}@example.com` } })

  const info = await annals(['info', path])
  t.equal(info.code, 0, info.stderr)
  t.match(info.stdout, /opened as\s+client/, 'info says it is a client of the process that holds it')
  t.match(info.stdout, /events\s+30 /)
  t.equal(JSON.parse((await annals(['info', path, '--json'])).stdout).role, 'client')

  const read = await annals(['read', path, '--json'])
  t.equal(read.code, 0, read.stderr)
  t.same(jsonLines(read.stdout).map(e => (e.data as { email: string }).email), Array.from({ length: 30 }, (_, i) => `u${i}@example.com`), 'read, personal fields opened through the owner\'s key store')
  t.equal(jsonLines((await annals(['read', path, 'user-1', '--json'])).stdout).length, 8)

  const verify = await annals(['verify', path])
  t.equal(verify.code, 0, verify.stderr)
  t.match(verify.stdout, /ok: no problem found/, 'verify, through the owner, on a snapshot')

  // tail: the last 2, then the new ones as they come
  const tail = spawn(process.execPath, [cliMain, 'tail', path, '-n', '2', '--json', '--types', 'UserRegistered,Renamed'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let tailed = ''
  tail.stdout.setEncoding('utf8').on('data', (chunk: string) => { tailed += chunk })
  const lines = (): Array<Record<string, unknown>> => jsonLines(tailed)
  const until = async (check: () => boolean): Promise<void> => {
    for (const deadline = Date.now() + 20_000; !check();) {
      if (Date.now() > deadline) throw new Error(`tail printed: ${tailed}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }
  await until(() => lines().length === 2)
  t.same(lines().map(e => e.position), [28, 29], 'the last two first')
  await db.append('user-9', [{ type: 'Renamed', data: { name: 'A' } }, { type: 'Ignored' }, { type: 'Renamed', data: { name: 'B' } }])
  await until(() => lines().length === 4)
  t.same(lines().slice(2).map(e => [e.position, e.type, e.data]), [[30, 'Renamed', { name: 'A' }], [32, 'Renamed', { name: 'B' }]], 'then each new one of those types')
  const exited = new Promise<number | null>(resolve => tail.once('exit', resolve))
  tail.kill('SIGINT')
  t.equal(await exited, 0, 'it ends quietly when interrupted')

  // backup while appends go on
  let going = true
  const appending = (async () => { for (let i = 0; going; i++) await db.append('busy', { type: 'Tick', data: i }) })()
  const dest = join(dir, 'copy')
  const backup = await annals(['backup', path, dest])
  going = false
  t.equal(backup.code, 0, backup.stderr)
  await appending
  t.equal((await annals(['backup', path, dest])).code, 2, 'not into a folder that holds files')
  const check = await annals(['verify', dest])
  t.equal(check.code, 0, check.stderr)
  t.match(check.stdout, /ok: no problem found/, 'the copy verifies clean')
  const copy = await open(dest)
  const copied = await collect(copy.readAll())
  const original = await collect(db.readAll({ limit: copied.length }))
  const all = await collect(db.readAll())
  t.ok(copied.length >= 33 && copied.length < all.length, `the copy holds what was there at one moment of the appends (${copied.length} of ${all.length} events)`)
  t.same(copied, original, 'the copy is the log as it was at one moment: a prefix of it')
  t.equal((copied[0]!.data as { email: string }).email, 'u0@example.com', 'with the subjects\' keys: personal fields read')
  await copy.close()
})

t.test('what needs the folder to itself: an import into a live database is refused (exit code 4), and changes nothing', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const source = await open(join(dir, 'source'))
  await source.append('a', [{ type: 'One' }, { type: 'Two' }])
  await source.close()
  const file = join(dir, 'log.jsonl')
  t.equal((await annals(['export', join(dir, 'source'), '--out', file])).code, 0)
  const path = join(dir, 'live')
  const db = await open(path)
  t.teardown(async () => { await db.close() })
  const refused = await annals(['import', path, file])
  t.equal(refused.code, 4, refused.stderr)
  t.match(refused.stderr, /open in another process/)
  t.equal((await db.head()).position, -1, 'nothing imported')
  await db.append('b', { type: 'Still' })
  t.same((await collect(db.readAll())).map(e => e.type), ['Still'], 'the owner goes on')
})
