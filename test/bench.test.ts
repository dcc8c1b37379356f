// The benchmarks run once at a tiny size, so they never rot. No timing is asserted: speed is
// measured by `npm run bench`, not by tests.
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from './helpers/backends.js'
import { assertBuilt } from './helpers/child.js'

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('npm run bench -- --tiny completes and prints every workload', async t => {
  assertBuilt()
  const { dir, remove } = tempDir('annals-bench-')
  t.teardown(remove)
  const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'dist', 'bench', 'run.js'), '--tiny', '--no-write'], { cwd: dir })
  for (const workload of ['awaited one at a time', '64 concurrent callers', '100 events per call', 'sync', 'replay the whole log', 'read one stream', 'load a stream of', 'flat in history', 'time travel to a random past revision', 'load-then-append commands', 'catch up a counter projection', 'with an inline projection', 'at({ position }).get', '2 personal fields', 'shred one subject', 'peak RSS']) {
    t.match(stdout, workload)
  }
  t.notMatch(stdout, /NaN|undefined/)
})
