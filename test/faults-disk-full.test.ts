// Disk full (issue 11): a child appends to a database on a small tmpfs; the test fills the disk
// so that writes of LevelDB's write-ahead log fail with ENOSPC, then frees the space or not.
// Failed appends reject with ANNALS_STORAGE; once space is freed, appends succeed again in the
// same process without the user reopening; close() resolves; and after a reopen in a fresh
// process every acknowledged append is there and no failed one. Needs root (mount).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { checkReopened, FaultChild, type Appended, type Sizes } from './helpers/fault-child.js'
import { mountTmpfs, needsTmpfs } from './helpers/faults.js'

interface Scenario {
  concurrency: number
  sync: boolean
  freed: boolean
}

const SIZE = 300

function codes (appended: Appended): string[] {
  return [...new Set(appended.fails.map(f => String(f.code)))].sort()
}

function failures (appended: Appended): string {
  return appended.fails.slice(0, 3).map(f => `${f.id}: ${String(f.code)} ${f.message}`).join('; ')
}

async function diskFull (t: Test, { concurrency, sync, freed }: Scenario): Promise<void> {
  const fs = mountTmpfs(t, 16)
  const path = join(fs.dir, 'db')
  const child = FaultChild.start()
  t.teardown(async () => { await child.kill() })
  const sizes: Sizes = { before: SIZE, full: SIZE, after: SIZE, still: SIZE }
  t.equal(await child.open(path, sync), null, 'opens')
  const before = await child.append({ tag: 'before', count: 100, concurrency, size: SIZE })
  t.equal(before.fails.length, 0, '100 appends before the disk fills')

  // room for a few appends (a few batches of 64) before the write-ahead log hits the wall
  fs.fill(concurrency === 1 ? 48 * 1024 : 256 * 1024)
  const full = await child.append({ tag: 'full', count: 5000, concurrency, stopAfterFailures: 1, size: SIZE })
  t.ok(full.fails.length > 0, `the disk filled up: ${full.acks.length} appends acknowledged, then ${full.fails.length} failed`)
  t.same(codes(full), ['ANNALS_STORAGE'], `the failed appends reject with ANNALS_STORAGE (${failures(full)})`)

  if (freed) {
    fs.free()
    const after = await child.append({ tag: 'after', count: 300, concurrency, size: SIZE })
    t.equal(after.acks.length, 300, `all 300 appends after the space is freed are acknowledged, without a reopen (${failures(after)})`)
  } else {
    const still = await child.append({ tag: 'still', count: 50, concurrency, size: SIZE })
    t.ok(still.fails.length > 0, `appends keep failing while the disk is full (${still.fails.length} of 50)`)
    t.same(codes(still), still.fails.length > 0 ? ['ANNALS_STORAGE'] : [], `with ANNALS_STORAGE (${failures(still)})`)
  }
  const closed = await child.close()
  t.equal(closed, null, `close() resolves (${closed === null ? '' : `${String(closed.code)} ${closed.message}`})`)
  if (!freed) fs.free() // the user frees space before opening again

  const problems = await checkReopened(path, child.acks, sizes)
  t.same(problems, [], `after a reopen in a fresh process: all ${child.acks.length} acknowledged appends there, none of the ${child.fails.length} failed ones`)
}

t.test('disk full on the write-ahead log', { skip: needsTmpfs() }, async t => {
  for (const concurrency of [1, 64]) {
    for (const sync of [false, true]) {
      for (const freed of [true, false]) {
        const name = `${concurrency === 1 ? 'single appends' : '64 concurrent appends'}, sync ${String(sync)}, space ${freed ? 'freed' : 'not freed'}` +
          (concurrency === 1 && freed ? ' (the scenario of issue 11: 300 appends after freeing space)' : '')
        await t.test(name, async t => { await diskFull(t, { concurrency, sync, freed }) })
      }
    }
  }
})
