// open() failures (issue 11) say what happened, with the cause kept: a corrupted CURRENT or
// MANIFEST is ANNALS_CORRUPT; an I/O error or a permission error while opening is
// ANNALS_STORAGE; a regular file, a folder that is not a database, and another program's
// LevelDB are ANNALS_NOT_A_DATABASE, and are left as they were (not adopted). An empty or
// missing folder still becomes a new database.
import t from 'tap'
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { FaultChild } from './helpers/fault-child.js'
import { digestOf, IoFaults, needsRoot, needsShim, random } from './helpers/faults.js'

/** A closed annals database with a few events, at `<dir>/db`. */
async function database (dir: string): Promise<string> {
  const path = join(dir, 'db')
  const db = await open(path)
  await db.append('s', [{ type: 'A', data: { n: 1 } }, { type: 'B', data: { n: 2 } }])
  await db.close()
  return path
}

interface OpenError {
  code?: unknown
  cause?: unknown
  /** code and message, for the assertion's message */
  text: string
}

/** The error open(path) rejects with; `{ text: 'it opened' }` when it resolves. */
async function openError (path: string): Promise<OpenError> {
  try {
    const db = await open(path)
    await db.close()
    return { text: 'it opened' }
  } catch (err) {
    const e = err as { code?: unknown, cause?: unknown, message?: unknown }
    return { code: e.code, cause: e.cause, text: `${String(e.code)}: ${String(e.message)}` }
  }
}

/** Every file under `dir` with its bytes, to see that nothing changed. */
function contents (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name)
    out[path.slice(dir.length)] = entry.isFile() ? readFileSync(path).toString('base64') : 'folder'
  }
  return out
}

/** The uid and gid of the user `nobody` (65534 where /etc/passwd does not say). */
function nobody (): { uid: number, gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find(l => l.startsWith('nobody:'))
  const [, , uid, gid] = line?.split(':') ?? []
  return { uid: Number(uid ?? 65534), gid: Number(gid ?? 65534) }
}

const rng = random(11)
const garbage = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rng() * 256)))

t.test('a corrupted CURRENT is ANNALS_CORRUPT', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = await database(dir)
  writeFileSync(join(path, 'CURRENT'), garbage(40))
  const err = await openError(path)
  t.equal(err.code, 'ANNALS_CORRUPT', err.text)
  t.not(err.cause, undefined, 'the cause is kept')
})

t.test('a CURRENT naming a MANIFEST that is not there is ANNALS_CORRUPT', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = await database(dir)
  writeFileSync(join(path, 'CURRENT'), 'MANIFEST-999999\n')
  const err = await openError(path)
  t.equal(err.code, 'ANNALS_CORRUPT', err.text)
  t.not(err.cause, undefined, 'the cause is kept')
})

t.test('a corrupted MANIFEST is ANNALS_CORRUPT', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = await database(dir)
  const manifest = readdirSync(path).find(name => name.startsWith('MANIFEST-'))!
  const bytes = readFileSync(join(path, manifest))
  t.ok(bytes.length > 20, `${manifest} has ${bytes.length} bytes`)
  // keep LevelDB's first record header, damage what follows
  garbage(bytes.length - 10).copy(bytes, 10)
  writeFileSync(join(path, manifest), bytes)
  const err = await openError(path)
  t.equal(err.code, 'ANNALS_CORRUPT', err.text)
  t.not(err.cause, undefined, 'the cause is kept')
})

t.test('an I/O error while opening is ANNALS_STORAGE', { skip: needsShim() }, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = await database(dir)
  const faults = new IoFaults(path, join(dir, 'control'))
  faults.inject({ errno: 'EIO', ops: ['read'] })
  const child = FaultChild.start({ env: faults.env() })
  t.teardown(async () => { await child.kill() })
  const err = await child.open(path)
  t.ok(faults.injected().length > 0, `the fault happened: ${faults.injected()[0] ?? 'nothing injected'}`)
  t.equal(err?.code, 'ANNALS_STORAGE', err?.message ?? 'it opened')
  t.equal(err?.cause, true, 'the cause is kept')
})

t.test('a folder the process may not read is ANNALS_STORAGE', { skip: needsRoot() }, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  chmodSync(dir, 0o755)
  const path = await database(dir)
  chmodSync(path, 0o700)
  t.equal(statSync(path).uid, 0, 'the folder is root\'s')
  const child = FaultChild.start({ user: nobody() })
  t.teardown(async () => { await child.kill() })
  const err = await child.open(path)
  t.equal(err?.code, 'ANNALS_STORAGE', err?.message ?? 'it opened')
  t.equal(err?.cause, true, 'the cause is kept')
})

t.test('a folder a process of another user holds, which this one may look into: ANNALS_ACCESS_DENIED, never access', { skip: needsRoot() }, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  chmodSync(dir, 0o755)
  const path = await database(dir)
  chmodSync(path, 0o755)
  const db = await open(path)
  t.teardown(async () => { await db.close() })
  const { position } = await db.append('secret', { type: 'Kept' })
  const child = FaultChild.start({ user: nobody() })
  t.teardown(async () => { await child.kill() })
  const err = await child.open(path)
  t.equal(err?.code, 'ANNALS_ACCESS_DENIED', err?.message ?? 'it opened')
  t.equal((await db.head()).position, position, 'the owner goes on, unchanged')
})

t.test('a regular file is ANNALS_NOT_A_DATABASE', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'notes.txt')
  writeFileSync(path, 'not a database\n')
  const err = await openError(path)
  t.equal(err.code, 'ANNALS_NOT_A_DATABASE', err.text)
  t.not(err.cause, undefined, 'the cause is kept')
  t.equal(readFileSync(path, 'utf8'), 'not a database\n', 'the file is unchanged')
})

t.test('a folder of other files is ANNALS_NOT_A_DATABASE, and left as it was', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'photos')
  mkdirSync(join(path, '2024'), { recursive: true })
  writeFileSync(join(path, 'README.md'), '# my photos\n')
  writeFileSync(join(path, '2024', 'cat.jpg'), garbage(2000))
  const before = contents(path)
  const err = await openError(path)
  // (no cause asserted: nothing failed underneath, annals itself refuses the folder)
  t.equal(err.code, 'ANNALS_NOT_A_DATABASE', err.text)
  t.same(contents(path), before, 'nothing in the folder changed, nothing was added')
})

t.test('another program\'s LevelDB is ANNALS_NOT_A_DATABASE, and left as it was', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'other')
  const level = new ClassicLevel<string, string>(path)
  for (let i = 0; i < 50; i++) await level.put(`user:${i}`, JSON.stringify({ name: `user ${i}`, visits: i }))
  await level.put('config', '{"theme":"dark"}')
  await level.close()
  const copy = join(dir, 'other-before')
  cpSync(path, copy, { recursive: true })
  const err = await openError(path)
  // (no cause asserted: LevelDB opens it fine, annals itself refuses it)
  t.equal(err.code, 'ANNALS_NOT_A_DATABASE', err.text)
  t.equal(await digestOf(path), await digestOf(copy), 'its keys and values are unchanged')
})

t.test('an empty folder and a missing one still open as new databases', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const empty = join(dir, 'empty')
  mkdirSync(empty)
  for (const path of [empty, join(dir, 'missing')]) {
    const db = await open(path)
    await db.append('s', { type: 'A' })
    await db.close()
    const again = await open(path)
    t.equal(await again.revision('s'), 0, `${path.slice(dir.length)} holds a database`)
    await again.close()
  }
})
