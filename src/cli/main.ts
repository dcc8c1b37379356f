#!/usr/bin/env node
// The `annals` command: looks inside a database, replays its history to debug it, verifies,
// exports and imports it, shreds data subjects, scavenges and archives old history, and runs
// the benchmarks. One command per file; this one wires them together and turns every failure
// into a message and an exit code.
import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { register as archive } from './archive.js'
import { register as at } from './at.js'
import { register as backup } from './backup.js'
import { register as bench } from './bench.js'
import { ExitCode, explain } from './errors.js'
import { register as exportCommand } from './export.js'
import { register as importCommand } from './import.js'
import { register as info } from './info.js'
import { errorColor } from './output.js'
import { register as read } from './read.js'
import { register as replay } from './replay.js'
import { register as scavenge } from './scavenge.js'
import { register as shred } from './shred.js'
import { register as streams } from './streams.js'
import { register as tail } from './tail.js'
import { register as ui } from './ui.js'
import { register as verify } from './verify.js'
import { register as view } from './view.js'

// a reader that went away (`annals read ... | head`) is no failure: what is left goes nowhere
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }

const program = new Command('annals')
  .description('Look inside an annals database: what happened, in what order, what an aggregate or view looked like then, and which event broke it.')
  .version(pkg.version)
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  .addHelpText('after', `
Examples:
  $ annals info ./data
  $ annals read ./data user-7
  $ annals tail ./data --types PhotoAdded
  $ annals replay ./data user-7 --aggregate dist/storage.js#Storage --until 'state.bytes < 0'
  $ annals ui ./data --aggregate dist/storage.js#Storage --module dist/views.js

Exit codes:
  0   it worked
  1   a problem was found (verify), or replay --until never held
  2   bad usage: unknown command or option, bad value, bad input file
  3   no database at that path, or no such file, module or export
  4   the database is open in another process that admits no other, or refuses this one
  5   the master key is missing or wrong
  6   the database is damaged, or of a newer format
  7   your code threw (aggregate, projection, --until expression)
  70  anything else: the storage failed, or a bug of annals

Documentation: docs/cli.md`)

for (const command of [info, streams, read, tail, at, view, replay, exportCommand, importCommand, verify, backup, shred, scavenge, archive, ui, bench]) command(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    // commander has printed its message (or the help, or the version)
    process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage
  } else {
    const failure = explain(err)
    process.stderr.write(`${errorColor.red('annals:')} ${failure.message}\n`)
    if (process.env.ANNALS_DEBUG === '1' || failure.exitCode === ExitCode.failure) {
      if (process.env.ANNALS_DEBUG === '1') process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`)
      else process.stderr.write(errorColor.dim('(run with ANNALS_DEBUG=1 for the details)\n'))
    }
    process.exitCode = failure.exitCode
  }
}
