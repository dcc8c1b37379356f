// `annals read`, run as a child process against a database this test builds: for a person and
// as JSON Lines, ranges, directions, limits and types, and a reader that goes away early.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { open } from '../src/index.js'
import { fromJsonValue } from '../src/cli/json-value.js'
import { accountsFolder, noColour } from './helpers/cli-folders.js'
import { annals, cliMain, jsonLines } from './helpers/cli.js'

const { dir, personalData } = accountsFolder(t)

t.test('read: a stream, for a person', async t => {
  const { code, stdout, stderr } = await annals(['read', dir, 'account-1'])
  t.equal(code, 0)
  t.equal(stderr, '')
  noColour(t, stdout)
  const blocks = stdout.split('\n\n')
  t.match(blocks[0]!, /^#0 Opened {2}account-1@0 {2}\d{4}-\d\d-\d\dT/)
  t.match(blocks[0]!, /data {5}\{ owner: 'Ada', at: 2024-05-01T10:00:00\.000Z \}/)
  t.match(blocks[0]!, /metadata \{ by: 'clerk-3' \}/)
  t.match(blocks[2]!, /^#3 Withdrawn {2}account-1@2/)
  t.match(blocks[2]!, /id {7}withdrawal-1/)
  t.match(stdout, /\(3 events\)\n$/)
})

t.test('read: JSON Lines with the field names of RecordedEvent', async t => {
  const db = await open(dir, { personalData })
  const expected = await db.readAll().toArray()
  await db.close()
  const { code, stdout } = await annals(['read', dir, '--json'])
  t.equal(code, 0)
  const lines = jsonLines(stdout)
  t.same(lines.map(l => Object.keys(l)), expected.map(() => ['id', 'stream', 'revision', 'position', 'type', 'version', 'data', 'metadata', 'time']))
  t.same(lines.map(l => ({ ...l, data: fromJsonValue(l.data), metadata: fromJsonValue(l.metadata) })), expected, 'every event, dates and all')
  t.same(lines[0]!.data, { owner: 'Ada', at: { $date: '2024-05-01T10:00:00.000Z' } }, 'a date is tagged')
  t.equal(lines[4]!.data && (lines[4]!.data as { email: string }).email, 'ada@example.com', 'personal fields readable')
})

t.test('read: ranges, direction, limits and types', async t => {
  const positions = async (...args: string[]): Promise<number[]> => jsonLines((await annals(['read', dir, ...args, '--json'])).stdout).map(e => e.position as number)
  t.same(await positions('--from', '1', '--to', '3'), [1, 2, 3])
  t.same(await positions('--backwards', '--limit', '2'), [4, 3])
  t.same(await positions('--type', 'Opened'), [0, 2])
  t.same(await positions('--type', 'Opened', '--type', 'Withdrawn'), [0, 2, 3])
  t.same(await positions('account-1', '--from', '2', '--backwards'), [3, 1, 0], 'a stream: --from is a revision')
  t.same(await positions('account-1', '--type', 'Deposited', '--limit', '1'), [1])
  t.match((await annals(['read', dir, 'nobody'])).stdout, /\(no events\)/)
})

t.test('a reader that goes away early is no failure', async t => {
  const { stdout, stderr } = await promisify(execFile)('sh', ['-c', `"${process.execPath}" "${cliMain}" read "${dir}" --json | head -n 1; "${process.execPath}" "${cliMain}" --help | head -n 1`])
  t.equal(stdout.split('\n').filter(Boolean).length, 2)
  t.equal(stderr, '', 'no EPIPE trace')
})
