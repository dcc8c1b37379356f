// The debugging session of docs/cli.md, run again: the demo writes a fresh database, and each
// `annals` command of the session must print what the page shows, but for the numbers, ids and
// times of this run.
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { tempDir } from './helpers/backends.js'
import { assertBuilt } from './helpers/child.js'
import { annals } from './helpers/cli.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const page = readFileSync(join(root, 'docs', 'cli.md'), 'utf8')
const session = page.slice(page.indexOf('## A debugging session'), page.indexOf('## Exit codes'))

/** Each `$ annals ...` of the session's shell blocks (pipes left out), with the lines it shows. */
function commands (): Array<{ line: string, output: string[] }> {
  const out: Array<{ line: string, output: string[] }> = []
  for (const [, block] of session.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const part of block!.split(/^(?=\$ )/m)) {
      const [first, ...rest] = part.split('\n')
      if (first!.startsWith('$ annals ') && !first!.includes('|')) out.push({ line: first!.slice(2), output: rest.filter(l => l !== '') })
    }
  }
  return out
}

/** Words of a command line, with '...' quoting. */
function words (line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map(m => m[1] ?? m[2]!)
}

/** What varies from run to run: times, ids, numbers. */
function normal (line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
    .replace(/\d[\d,]*/g, '<n>')
}

t.test('the debugging session of docs/cli.md', async t => {
  assertBuilt()
  const { dir, remove } = tempDir('annals-cli-docs-')
  t.teardown(remove)
  symlinkSync(join(root, 'dist'), join(dir, 'dist'))
  await promisify(execFile)(process.execPath, [join(root, 'dist', 'demo', 'photos.js')], { cwd: dir })
  // the moment the page looks at: the first delete of user-300
  const [first] = (await annals(['read', 'demo-data', 'user-300', '--from', '2', '--limit', '1', '--json'], { cwd: dir })).stdout.split('\n')
  const moment = new Date(JSON.parse(first!).time).toISOString()
  const list = commands()
  t.ok(list.length >= 4, 'the session has its commands')
  for (const { line, output } of list) {
    const args = words(line).slice(1).map(w => /^\d{4}-\d\d-\d\dT/.test(w) ? moment : w)
    const { code, stdout, stderr } = await annals(args, { cwd: dir })
    t.equal(code, 0, `${line}: ${stderr}`)
    t.same(stdout.split('\n').filter(l => l !== '').map(normal), output.map(normal), line)
  }
})
