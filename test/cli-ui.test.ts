// `annals ui`, run as a child process as a user runs it: it prints an address with a token, the
// page answers only with it, Ctrl+C (SIGTERM here) stops it cleanly, and what can go wrong at
// start (the folder held by another process, a bad port, a missing folder) says so.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { assertBuilt, kill, startChild } from './helpers/child.js'
import { annals, cliMain } from './helpers/cli.js'
import { http } from './helpers/ui.js'

const { dir: root, remove } = tempDir('annals-cli-ui-')
t.teardown(remove)
const dir = join(root, 'db')
const aggregate = fileURLToPath(new URL('fixtures/account-aggregate.mjs', import.meta.url))
const views = fileURLToPath(new URL('fixtures/views.mjs', import.meta.url))

t.before(async () => {
  const db = await open(dir)
  await db.append('account-1', { type: 'Deposited', data: { amount: 100 } })
  await db.append('account-1', { type: 'Withdrawn', data: { amount: 30 } })
  await db.close()
})

interface Running {
  child: ChildProcess
  url: string
  stdout: string
  stderr: () => string
  exited: Promise<number | null>
}

/** Starts `annals ui` and resolves with the address it printed. */
async function start (args: string[], env: Record<string, string> = {}): Promise<Running> {
  assertBuilt()
  const child = spawn(process.execPath, [cliMain, 'ui', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(stdout)
      if (m !== null) resolve(m[0])
    })
    void exited.then(code => { reject(new Error(`annals ui exited with ${String(code)}: ${stderr}`)) })
  })
  return { child, url, stdout, stderr: () => stderr, exited }
}

t.test('serves the page behind the token it prints; SIGTERM stops it', async t => {
  const ui = await start([dir, '--aggregate', `${aggregate}#Account`, '--module', views])
  t.match(ui.stdout, /serving .*db \(read-only\) at/)
  const origin = new URL(ui.url).origin
  t.equal((await http(`${origin}/`)).status, 403, 'no token: refused')
  t.equal((await http(`${origin}/api/overview`)).status, 403)
  const first = await http(ui.url)
  t.equal(first.status, 302)
  const cookie = String(first.headers['set-cookie']).split(';')[0]!
  const overview = JSON.parse((await http(`${origin}/api/overview`, { headers: { Cookie: cookie } })).body)
  t.match(overview, { location: dir, events: 2, aggregates: ['account'], views: ['balances', 'types'] })
  const state = JSON.parse((await http(`${origin}/api/aggregate?name=account&stream=account-1&position=0`, { headers: { Cookie: cookie } })).body)
  t.match(state, { revision: 0, state: { balance: 100, owner: null }, next: { changes: [{ op: 'set', path: 'state.balance', from: 100, to: 70 }] } })
  ui.child.kill('SIGTERM')
  t.equal(await ui.exited, 0, 'exits with 0')
  const db = await open(dir)
  t.equal(await db.revision('account-1'), 1, 'the folder is closed and unchanged')
  await db.close()
})

t.test('--port, and --open where no browser is set up', async t => {
  const probe = createServer()
  const port = await new Promise<number>(resolve => probe.listen(0, '127.0.0.1', () => { resolve((probe.address() as { port: number }).port) }))
  await new Promise(resolve => probe.close(resolve))
  const ui = await start([dir, '--port', String(port), '--open'], { BROWSER: '', DISPLAY: '', WAYLAND_DISPLAY: '' })
  t.equal(new URL(ui.url).port, String(port))
  t.equal((await http(ui.url)).status, 302, 'serves')
  if (process.platform === 'linux') t.match(ui.stderr(), /no browser is set up here/)
  ui.child.kill('SIGINT')
  t.equal(await ui.exited, 0)
  // a browser that fails to start
  const failing = await start([dir, '--open'], { BROWSER: 'false', DISPLAY: '', WAYLAND_DISPLAY: '' })
  t.equal((await http(failing.url)).status, 302, 'serves all the same')
  failing.child.kill('SIGTERM')
  t.equal(await failing.exited, 0)
})

t.test('a port in use, a bad port, no folder: clear errors', async t => {
  const busy = createServer()
  const port = await new Promise<number>(resolve => busy.listen(0, '127.0.0.1', () => { resolve((busy.address() as { port: number }).port) }))
  t.teardown(() => { busy.close() })
  const inUse = await annals(['ui', dir, '--port', String(port)])
  t.equal(inUse.code, 2)
  t.match(inUse.stderr, new RegExp(`Port ${port} of 127.0.0.1 is in use`))
  t.equal((await annals(['ui', dir, '--port', '70000'])).code, 2)
  t.equal((await annals(['ui', dir, '--port', 'x'])).code, 2)
  t.equal((await annals(['ui', join(root, 'nothing')])).code, 3)
  t.equal((await annals(['ui', dir, '--aggregate', join(root, 'missing.mjs')])).code, 3)
})

t.test('a folder another process holds with exclusive: true: ANNALS_LOCKED, said clearly (exit code 4)', async t => {
  const holder = await startChild('hold-open.mjs', [dir, 'exclusive'])
  try {
    const { code, stderr } = await annals(['ui', dir])
    t.equal(code, 4)
    t.match(stderr, /is open in another process/)
  } finally {
    await kill(holder)
  }
})
