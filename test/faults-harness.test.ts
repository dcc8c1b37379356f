// The fault harness itself (helpers/faults.ts): each fault must really happen to LevelDB's own
// writes, and the check after a reopen must be able to fail, or the fault tests could pass
// without any fault at all.
import t from 'tap'
import { cpSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { checkReopened, FaultChild } from './helpers/fault-child.js'
import { damageBlock, digestOf, filesOf, flipByte, IoFaults, LOG_BLOCK, mountTmpfs, needsShim, needsTmpfs, random } from './helpers/faults.js'
import { tempDir } from './helpers/backends.js'

t.test('the shim fails classic-level\'s writes, syncs and reads, and only while told', { skip: needsShim() }, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const faults = new IoFaults(path, join(dir, 'control'))
  const child = FaultChild.start({ script: 'level-child.mjs', env: faults.env() })
  t.teardown(async () => { await child.kill() })
  t.same(await child.command({ cmd: 'open', dir: path }), { opened: true })
  t.same(await child.command({ cmd: 'put', key: 'a' }), { put: true }, 'no trigger, no fault')
  t.same(faults.injected(), [])

  const log = filesOf(path, '.log')[0]!
  const before = statSync(log.path).size
  faults.inject({ errno: 'EIO', count: 1, match: '.log' })
  const failed = await child.command({ cmd: 'put', key: 'b', size: 1000 })
  t.match(failed, { putError: { message: /Input\/output error/ } }, 'a write of the write-ahead log fails with EIO')
  t.notOk(faults.armed, 'a counted fault is spent')
  t.match(faults.injected(), [/^EIO fwrite_unlocked .*\.log$/])
  t.ok(statSync(log.path).size > before, 'a torn write leaves part of the record in the file')
  t.same(await child.command({ cmd: 'put', key: 'c' }), { put: true }, 'the next write succeeds')

  faults.inject({ errno: 'ENOSPC', ops: ['sync'], match: '.log' })
  t.same(await child.command({ cmd: 'put', key: 'd' }), { put: true }, 'a write without sync does not sync')
  t.match(await child.command({ cmd: 'put', key: 'e', sync: true }), { putError: { message: /No space left on device/ } }, 'fdatasync fails')
  t.ok(faults.armed, 'an uncounted fault stays until cleared')
  faults.clear()
  t.match(faults.injected().slice(1), [/^ENOSPC fdatasync .*\.log$/])
  t.match(await child.command({ cmd: 'close' }), { closed: true })
  await child.kill()

  // reads: LevelDB reads CURRENT, the MANIFEST and the log when it opens
  const reader = FaultChild.start({ script: 'level-child.mjs', env: faults.env() })
  t.teardown(async () => { await reader.kill() })
  faults.inject({ errno: 'EIO', ops: ['read'] })
  t.match(await reader.command({ cmd: 'open', dir: path }), { openError: { message: /Input\/output error/ } }, 'open fails to read')
  t.ok(faults.injected().some(l => /^EIO fread/.test(l)))
  faults.clear()
  await reader.kill()
})

t.test('a full tmpfs fails classic-level\'s writes with ENOSPC', { skip: needsTmpfs() }, async t => {
  const fs = mountTmpfs(t, 8)
  const path = join(fs.dir, 'db')
  const child = FaultChild.start({ script: 'level-child.mjs' })
  t.teardown(async () => { await child.kill() })
  t.same(await child.command({ cmd: 'open', dir: path }), { opened: true })
  t.same(await child.command({ cmd: 'put', key: 'a' }), { put: true })
  fs.fill(64 * 1024)
  const left = fs.available()
  t.ok(left >= 60 * 1024 && left <= 68 * 1024, `fill leaves what it was asked to (${left} bytes)`)
  let error: unknown
  for (let i = 0; i < 100 && error === undefined; i++) {
    const reply = await child.command({ cmd: 'put', key: `k${i}`, size: 4000 })
    error = reply.putError
  }
  t.match(error, { message: /No space left on device/ }, 'the write-ahead log runs out of space')
  t.ok(fs.available() < 4096, 'the disk is full')
  fs.free()
  t.ok(fs.available() > 7 * 1024 * 1024, 'free gives the space back')
  t.match(await child.command({ cmd: 'close' }), { closed: true })
})

t.test('the check after a reopen passes on a clean run and finds what is wrong', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const child = FaultChild.start()
  t.teardown(async () => { await child.kill() })
  t.equal(await child.open(path), null)
  const one = await child.append({ tag: 'a', count: 40 })
  const two = await child.append({ tag: 'b', count: 40, concurrency: 8, size: 50 })
  t.equal(one.acks.length + two.acks.length, 80)
  t.equal(await child.close(), null)
  const sizes = { a: 200, b: 50 }
  t.same(await checkReopened(path, child.acks, sizes), [], 'a clean run passes')

  const last = child.acks.at(-1)!
  const lost = { ...last, id: 'b-999', events: 1, position: last.position + 5 }
  t.match(await checkReopened(path, [...child.acks, lost], sizes), [/1 acknowledged events lost: b-999\/0/], 'a lost append is found')
  t.match(await checkReopened(path, child.acks.slice(1), sizes), [/events present that were never acknowledged/], 'an unacknowledged event is found')
  t.match(await checkReopened(path, child.acks, { a: 200, b: 51 }), [/reads back with other content/], 'altered data is found')
  const moved = child.acks.map((a, i) => i === 3 ? { ...a, position: a.position + 1 } : a)
  t.match(await checkReopened(path, moved, sizes), [/misplaced or altered/], 'a misplaced event is found')
})

t.test('corruption helpers change what they say and nothing else', async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const level = new ClassicLevel<string, string>(path)
  for (let i = 0; i < 400; i++) await level.put(`key-${String(i).padStart(4, '0')}`, 'x'.repeat(300) + String(i))
  await level.close()
  const log = filesOf(path, '.log')[0]!
  t.ok(log.size > 3 * LOG_BLOCK, 'the write-ahead log has several blocks')
  const copy = (name: string): string => { const to = join(dir, name); cpSync(path, to, { recursive: true }); return to }
  const original = await digestOf(copy('pristine'))
  t.equal(await digestOf(copy('same')), original, 'copies digest alike')

  const flipped = copy('flipped')
  const bytes = readFileSync(log.path)
  const { before, after } = flipByte(join(flipped, basename(log.path)), 1000, random(1))
  const now = readFileSync(join(flipped, basename(log.path)))
  t.not(before, after)
  t.equal(now.filter((b, i) => b !== bytes[i]).length, 1, 'one byte differs')
  t.not(await digestOf(flipped), original, 'LevelDB drops the damaged record: the data changed')

  const damaged = copy('damaged')
  damageBlock(join(damaged, basename(log.path)), 1, random(2))
  const block = readFileSync(join(damaged, basename(log.path)))
  t.notSame(block.subarray(LOG_BLOCK, 2 * LOG_BLOCK), bytes.subarray(LOG_BLOCK, 2 * LOG_BLOCK), 'block 1 is overwritten')
  t.same(block.subarray(0, LOG_BLOCK), bytes.subarray(0, LOG_BLOCK), 'block 0 is not')
  t.same(block.subarray(2 * LOG_BLOCK), bytes.subarray(2 * LOG_BLOCK), 'later blocks are not')
  t.not(await digestOf(damaged), original)
  t.equal(random(7)(), random(7)(), 'the randomness is seeded')
})
