// `annals import`, run as a child process, given what it must refuse: a message naming the line
// or position, exit code 2, and nothing changed.
import t from 'tap'
import { existsSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { awkwardFolder } from './helpers/cli-folders.js'
import { annals } from './helpers/cli.js'

// a whole export, which an import into this database (it has events) refuses
const { root, dir } = awkwardFolder(t, async ({ root, dir }) => { writeFileSync(join(root, 'first.jsonl'), (await annals(['export', dir])).stdout) })

t.test('a bad import: a message naming the line or position, exit code 2, nothing changed', async t => {
  const exported = (await annals(['export', dir])).stdout.split('\n')
  const cases: Array<[string, string[], RegExp]> = [
    ['not JSON', exported.map((l, i) => i === 3 ? '{"id": ' : l), /Line 4 of the import is not an exported event: it is not JSON/],
    ['an unknown field', exported.map((l, i) => i === 3 ? l.replace('"type"', '"kind"') : l), /Line 4 .*unknown field 'kind'/],
    // positions may have holes (a scavenged log's export has them), but never go back
    ['a position out of order', exported.map((l, i) => i === 10 ? exported[11]! : i === 11 ? exported[10]! : l), /position 10 comes where position 12 or a later one was expected/],
    ['a hole in a stream', exported.filter((_, i) => i !== 10), /revision \d+ of stream '[^']+', whose next revision is/],
    ['a revision out of order', exported.map((l, i) => i === 20 ? l.replace(/"revision":\d+/, '"revision":99') : l), /position 20 has revision 99/],
    ['a bad tag', exported.map((l, i) => i === 2 ? l.replace('"$bigint":"-9223372036854775808"', '"$bigint":"lots"') : l), /Line 3 .*not a valid \$bigint/],
    ['redacted without a subject', exported.map((l, i) => i === 1 ? l.replace(/,"personal":\{[^}]*\}/, '') : l), /Line 2 .*'email' is redacted but not in 'personal'/]
  ]
  for (const [name, lines, message] of cases) {
    const file = join(root, 'bad.jsonl')
    writeFileSync(file, lines.join('\n'))
    const target = join(root, 'bad-target')
    const { code, stderr } = await annals(['import', target, file])
    t.equal(code, 2, name)
    t.match(stderr, message, name)
    t.notOk(existsSync(target), `${name}: the folder it would have made is not there`)
  }
  // an empty folder stays empty
  const empty = join(root, 'empty')
  mkdirSync(empty)
  const file = join(root, 'bad.jsonl')
  writeFileSync(file, exported.filter((_, i) => i !== 30).join('\n'))
  t.equal((await annals(['import', empty, file])).code, 2)
  t.same(readdirSync(empty), [], 'an empty folder is left empty')
  // a database with events is refused, and keeps them
  const refused = await annals(['import', dir, join(root, 'first.jsonl')])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /already has 45 events: import into a new folder/)
  t.equal(JSON.parse((await annals(['info', dir, '--json'])).stdout).events, 45)
  t.match(await annals(['import', join(root, 'x'), join(root, 'no-such-file.jsonl')]), { code: 3, stderr: /There is no file/ })
})
