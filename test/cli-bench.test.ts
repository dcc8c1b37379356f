// `annals bench` runs the benchmark suite with its options, in the folder it is run from.
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { annals } from './helpers/cli.js'

t.test('annals bench --tiny prints the table and leaves no files', async t => {
  const { dir, remove } = tempDir('annals-cli-bench-')
  t.teardown(remove)
  const { code, stdout, stderr } = await annals(['bench', '--tiny'], { cwd: dir })
  t.equal(code, 0, stderr)
  t.match(stdout, /\| workload \| annals ev\/s \|/)
  t.match(stdout, /64 concurrent callers/)
  t.notOk(existsSync(join(dir, 'bench-data')), 'its files are removed')
  t.match(await annals(['bench', '--fast']), { code: 2, stderr: /unknown option '--fast'/ })
})
