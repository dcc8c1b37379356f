// The parts of a corruption trial (damage.ts) that read a damaged database, in a process of
// their own: a flipped byte in a table file's block can reach an assertion of LevelDB's, which
// ends the process (SIGABRT; classic-level reads without LevelDB's block checksums), and the
// trial must see that and what the reads returned before it. Run with tap's TypeScript loader,
// it takes one task a line on standard input, as JSON, and answers each with JSON lines as it
// goes, the last `{ "end": true }`:
//   ["reads", <path>, <originals, v8-serialized>]   one line per read checked
//   ["digest", <path>]                              { digest }
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { deserialize } from 'node:v8'
import type { RecordedEvent } from '../../src/index.js'
import { checkReads } from './damage.js'
import { digestOf } from './faults.js'

const say = (line: unknown): void => { process.stdout.write(`${JSON.stringify(line)}\n`) }
for await (const line of createInterface({ input: process.stdin })) {
  const [mode, path, originals] = JSON.parse(line) as string[]
  if (mode === 'digest') say({ digest: await digestOf(path!) })
  else await checkReads(path!, deserialize(readFileSync(originals!)) as RecordedEvent[], result => { say(result) })
  say({ end: true })
}
