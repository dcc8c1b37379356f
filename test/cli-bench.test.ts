// `annals bench` runs the benchmark suite with its options, in the folder it is run from, and
// never rewrites the package's docs.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers/backends.js'
import { annals } from './helpers/cli.js'

t.test('annals bench --tiny prints the tables, writes the files asked for and leaves no databases', async t => {
  const { dir, remove } = tempDir('annals-cli-bench-')
  t.teardown(remove)
  const { code, stdout, stderr } = await annals(['bench', '--tiny', '--streams', '30', '--event-size', '100', '--personal-fields', '3', '--out', 'figures.json', '--svg', 'chart.svg'], { cwd: dir })
  t.equal(code, 0, stderr)
  t.match(stdout, /\| workload +\| +annals \| compared with/)
  t.match(stdout, /64 concurrent callers/)
  t.match(stdout, /append 1 event with 3 personal fields/)
  t.match(stderr, /\[1\/\d+, 0 s\] appends awaited/, 'progress on standard error')
  t.notOk(existsSync(join(dir, 'bench-data')), 'its databases are removed')
  t.notOk(existsSync(join(dir, 'annals-bench.json')), 'the files go where they are asked to')
  const report = JSON.parse(readFileSync(join(dir, 'figures.json'), 'utf8'))
  t.equal(report.command, 'annals bench --tiny --streams 30 --event-size 100 --personal-fields 3 --out figures.json --svg chart.svg')
  t.match(report.options, { streams: 30, eventSize: 100, personalFields: 3 })
  t.match(readFileSync(join(dir, 'chart.svg'), 'utf8'), /^<svg /)
})

t.test('annals bench: a bad option is a usage error', async t => {
  t.match(await annals(['bench', '--fast']), { code: 2, stderr: /unknown option '--fast'/ })
  t.match(await annals(['bench', '--events', 'many']), { code: 2, stderr: /option '--events <n>' argument 'many' is invalid/ })
  t.match(await annals(['bench', '--events', '5']), { code: 2, stderr: /--events expects a whole number from 100/ })
  t.match(await annals(['bench', '--tiny', '--large']), { code: 2, stderr: /--tiny cannot go with --quick or --large/ })
  t.match(await annals(['bench', '--tiny', '--only', 'nope']), { code: 2, stderr: /--only: no area nope/ })
})
