// I/O errors (issue 11): a child appends with the fault shim preloaded (helpers/faults.ts,
// fixtures/faults/fail-io.c), and the test makes LevelDB's writes or syncs fail with EIO, once or
// until cleared. Failed appends reject with ANNALS_STORAGE; once the fault is gone, appends
// succeed again in the same process without the user reopening; close() resolves; and after a
// reopen in a fresh process every acknowledged append is there and no failed one. Needs Linux
// and a C compiler.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { checkReopened, FaultChild, type Appended, type Sizes } from './helpers/fault-child.js'
import { IoFaults, needsShim, type IoFault } from './helpers/faults.js'

const SIZE = 300

interface Scenario {
  concurrency: number
  sync: boolean
  fault: IoFault
  /**
   * The failed write may be in the file after all (a failed fsync): then the database finds it
   * there when it recovers, and the append is acknowledged rather than refused.
   */
  mayLand?: boolean
}

function codes (appended: Appended): string[] {
  return [...new Set(appended.fails.map(f => String(f.code)))].sort()
}

function failures (appended: Appended): string {
  return appended.fails.slice(0, 3).map(f => `${f.id}: ${String(f.code)} ${f.message}`).join('; ')
}

async function ioError (t: Test, { concurrency, sync, fault, mayLand = false }: Scenario): Promise<void> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const faults = new IoFaults(path, join(dir, 'control'))
  const child = FaultChild.start({ env: faults.env() })
  t.teardown(async () => { await child.kill() })
  const sizes: Sizes = { before: SIZE, hit: SIZE, after: SIZE }
  t.equal(await child.open(path, sync), null, 'opens')
  const before = await child.append({ tag: 'before', count: 100, concurrency, size: SIZE })
  t.equal(before.fails.length, 0, '100 appends before the fault')

  faults.inject(fault)
  const hit = await child.append({ tag: 'hit', count: 50, concurrency, size: SIZE })
  const injected = faults.injected()
  t.ok(injected.length > 0, `the fault happened: ${injected[0] ?? 'nothing injected'}`)
  if (mayLand) {
    t.same(codes(hit), hit.fails.length === 0 ? [] : ['ANNALS_STORAGE'], `the write landed and was acknowledged, or failed with ANNALS_STORAGE (${failures(hit)})`)
  } else {
    t.ok(hit.fails.length > 0, `appends failed: ${hit.fails.length} of 50`)
    t.same(codes(hit), ['ANNALS_STORAGE'], `with ANNALS_STORAGE (${failures(hit)})`)
  }
  if (fault.count === undefined) {
    t.equal(hit.acks.length, 0, 'while the fault lasts, no append is acknowledged')
    faults.clear()
  } else {
    t.notOk(faults.armed, 'the fault is spent')
  }

  const after = await child.append({ tag: 'after', count: 300, concurrency, size: SIZE })
  t.equal(after.acks.length, 300, `all 300 appends after the fault are acknowledged, without a reopen (${failures(after)})`)
  const closed = await child.close()
  t.equal(closed, null, `close() resolves (${closed === null ? '' : `${String(closed.code)} ${closed.message}`})`)

  const problems = await checkReopened(path, child.acks, sizes)
  t.same(problems, [], `after a reopen in a fresh process: all ${child.acks.length} acknowledged appends there, none of the ${child.fails.length} failed ones`)
}

const modes = [1, 64].flatMap(concurrency => [false, true].map(sync => ({ concurrency, sync })))
const label = ({ concurrency, sync }: { concurrency: number, sync: boolean }): string =>
  `${concurrency === 1 ? 'single appends' : '64 concurrent appends'}, sync ${String(sync)}`

t.test('EIO once on a write of the write-ahead log (half the bytes written)', { skip: needsShim() }, async t => {
  for (const mode of modes) {
    await t.test(label(mode), async t => { await ioError(t, { ...mode, fault: { errno: 'EIO', count: 1, match: '.log' } }) })
  }
})

t.test('EIO on every write of the write-ahead log until the fault is cleared', { skip: needsShim() }, async t => {
  for (const mode of modes) {
    await t.test(label(mode), async t => { await ioError(t, { ...mode, fault: { errno: 'EIO', match: '.log' } }) })
  }
})

t.test('EIO once on a write of the write-ahead log that writes nothing', { skip: needsShim() }, async t => {
  for (const mode of modes.filter(m => !m.sync)) {
    await t.test(label(mode), async t => { await ioError(t, { ...mode, fault: { errno: 'EIO', count: 1, match: '.log', torn: false } }) })
  }
})

t.test('EIO once on fdatasync of the write-ahead log', { skip: needsShim() }, async t => {
  // the record reached the file, but its sync failed: the database reopens (which writes the
  // log's records to a table, synced) and finds it there, so the append is acknowledged; had it
  // been refused, it must not come back at a reopen (the checker sees to both)
  for (const mode of modes.filter(m => m.sync)) {
    await t.test(label(mode), async t => { await ioError(t, { ...mode, mayLand: true, fault: { errno: 'EIO', count: 1, ops: ['sync'], match: '.log' } }) })
  }
})

t.test('EIO on the table files while LevelDB compacts', { skip: needsShim() }, async t => {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const faults = new IoFaults(path, join(dir, 'control'))
  const child = FaultChild.start({ env: faults.env() })
  t.teardown(async () => { await child.kill() })
  t.equal(await child.open(path), null, 'opens')
  faults.inject({ errno: 'EIO', match: '.ldb' })
  // about 4 MiB make LevelDB write its memtable to a table, which fails
  const sizes: Sizes = { after: SIZE }
  let failed = 0
  for (let round = 0; round < 40 && failed === 0; round++) {
    sizes[`r${round}`] = 2000
    failed = (await child.append({ tag: `r${round}`, count: 100, concurrency: 16, size: 2000, stopAfterFailures: 1 })).fails.length
  }
  const injected = faults.injected()
  t.ok(injected.some(line => line.endsWith('.ldb')), `a table write failed: ${injected[0] ?? 'nothing injected'}`)
  t.ok(failed > 0, 'appends failed after the compaction failed')
  t.same([...new Set(child.fails.map(f => f.code))], ['ANNALS_STORAGE'], `with ANNALS_STORAGE (${child.fails[0]?.message ?? ''})`)
  faults.clear()

  const after = await child.append({ tag: 'after', count: 300, size: SIZE })
  t.equal(after.acks.length, 300, `all 300 appends after the fault are acknowledged, without a reopen (${after.fails[0]?.message ?? ''})`)
  const closed = await child.close()
  t.equal(closed, null, `close() resolves (${closed === null ? '' : `${String(closed.code)} ${closed.message}`})`)
  const problems = await checkReopened(path, child.acks, sizes)
  t.same(problems, [], `after a reopen in a fresh process: all ${child.acks.length} acknowledged appends there, none of the ${child.fails.length} failed ones`)
})
