// Disk full during compaction (issue 11): LevelDB writes its memtable to a table file (a
// "Level-0" compaction) once about 4 MiB were written. The test fills the disk at a moment when
// the write-ahead log still has room to reach that point but the table does not fit: the
// compaction fails, LevelDB remembers the error, and today every later write fails with it,
// even once space is freed, until the database is reopened; close() rejects too. The database
// must accept writes again once space is freed, without a reopen by the user, and close() must
// resolve, with every acknowledged append there after a reopen. Needs root (mount).
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkReopened, FaultChild, type Sizes } from './helpers/fault-child.js'
import { filesOf, mountTmpfs, needsTmpfs } from './helpers/faults.js'

const MiB = 1024 * 1024
const SIZE = 2000

/** What LevelDB says in its info log (LOG, and LOG.old after a reopen) about failed compactions. */
function compactionErrors (path: string): string[] {
  return ['LOG', 'LOG.old'].flatMap(name => {
    const file = join(path, name)
    if (!existsSync(file)) return []
    return readFileSync(file, 'utf8').split('\n')
      .filter(line => /Level-0 table #\d+: .*No space left on device|Compaction error: .*No space left on device/.test(line))
  })
}

t.test('disk full while LevelDB compacts', { skip: needsTmpfs() }, async t => {
  const fs = mountTmpfs(t, 32)
  const path = join(fs.dir, 'db')
  const child = FaultChild.start()
  t.teardown(async () => { await child.kill() })
  const sizes: Sizes = { after: 200 }
  t.equal(await child.open(path), null, 'opens')

  // write until the write-ahead log holds 2.5 MiB: a table is written at about 4 MiB
  let round = 0
  while ((filesOf(path, '.log').at(-1)?.size ?? 0) < 2.5 * MiB) {
    sizes[`r${round}`] = SIZE
    const r = await child.append({ tag: `r${round++}`, count: 100, concurrency: 16, size: SIZE })
    t.equal(r.fails.length, 0, `round ${round}: 100 appends`, { diagnostic: r.fails.length > 0 })
    if (r.fails.length > 0) return
  }
  t.same(filesOf(path, '.ldb'), [], 'no table written yet')
  // 2 MiB left: enough for the log to reach the switch (at most 1.5 MiB more), not for the table
  fs.fill(2 * MiB)

  // the parent reads LevelDB's info log while the child appends: a reopen may rotate it
  const seen = new Set<string>()
  const watch = setInterval(() => { for (const line of compactionErrors(path)) seen.add(line) }, 5)
  let failed = 0
  try {
    for (let i = 0; i < 40 && failed === 0; i++) {
      sizes[`full${i}`] = SIZE
      const r = await child.append({ tag: `full${i}`, count: 100, concurrency: 16, stopAfterFailures: 1, size: SIZE })
      failed = r.fails.length
      if (failed > 0) t.same([...new Set(r.fails.map(f => f.code))], ['ANNALS_STORAGE'], `the appends that failed reject with ANNALS_STORAGE (${r.fails[0]!.message})`)
    }
  } finally {
    clearInterval(watch)
  }
  for (const line of compactionErrors(path)) seen.add(line)
  t.ok(failed > 0, 'appends failed once the disk was full')
  t.ok(seen.size > 0, `LevelDB's compaction failed for lack of space: ${[...seen][0] ?? 'no such line in LOG'}`)

  fs.free()
  const after = await child.append({ tag: 'after', count: 300, size: 200 })
  t.equal(after.acks.length, 300, `all 300 appends after the space is freed are acknowledged, without a reopen (${after.fails[0]?.message ?? ''})`)
  const closed = await child.close()
  t.equal(closed, null, `close() resolves (${closed === null ? '' : `${String(closed.code)} ${closed.message}`})`)

  const problems = await checkReopened(path, child.acks, sizes)
  t.same(problems, [], `after a reopen in a fresh process: all ${child.acks.length} acknowledged appends there, none of the ${child.fails.length} failed ones`)
})
