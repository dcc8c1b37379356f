// `annals verify <dir>`: reads everything and checks that the log and its indexes are whole and
// agree. Prints a report; exits with 1 on any problem, naming the position.
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { LevelDoor } from '../backend/level/door.js'
import { AnnalsError } from '../errors.js'
import { Connection } from '../backend/postgres/connection.js'
import { Readers } from '../backend/postgres/readers.js'
import { PostgresStorage } from '../backend/postgres/storage.js'
import { verifyPostgres } from '../backend/postgres/verify.js'
import { checkEventDeclarations } from '../log/event-declarations.js'
import { Upcaster } from '../log/upcast.js'
import type { Storage } from '../storage/storage.js'
import { internalsOf } from '../store/internals.js'
import { assertDatabase, assertPostgresDatabase, databaseName, databaseOptions, isPostgresUrl, withDatabase, type DatabaseOptions } from './database.js'
import { ExitCode, explain, usage } from './errors.js'
import { color, count, Lines, progress, type Progress } from './output.js'
import { loadEvents } from './user-module.js'
import { verifyStorage, type Check, type LogSource, type Report } from './verify-checks.js'

interface VerifyOptions extends DatabaseOptions {
  json?: boolean
}

const CHECKS: Array<[Check, (r: Report, postgres: boolean) => string]> = [
  ['format', () => 'format marker'],
  ['records', r => `${count(r.events)} events decode and match their checksums, at positions 0 to ${count(Math.max(r.events - 1, 0))} without gaps`],
  ['times', () => 'commit times never decrease'],
  ['streams', (r, postgres) => postgres
    ? `${count(r.streams)} streams, each with its revisions at increasing positions, as its row says`
    : `the streams' blocks hold the log's events: ${count(r.streams)} streams, in blocks up to position ${r.indexedUpTo}`],
  ['ids', (r, postgres) => postgres
    ? `${count(r.idEntries)} event ids used once`
    : r.idEntries === 1 ? '1 id index entry agrees with its event' : `${count(r.idEntries)} id index entries agree with their events`],
  ['tags', r => r.tagEntries === 1 ? '1 tag index entry agrees with its event' : `${count(r.tagEntries)} tag index entries agree with their events`],
  ['checkpoints', r => `${count(r.checkpoints)} checkpoint${r.checkpoints === 1 ? '' : 's'} of subscriptions and projections, none past the end of the log`],
  ['snapshots', r => `${count(r.snapshots)} snapshot${r.snapshots === 1 ? '' : 's'}, none past the end of its stream`],
  ['upcasts', r => `${count(r.upcast ?? 0)} event${r.upcast === 1 ? '' : 's'} stored at an older version of ${r.upcast === 1 ? 'its type upcasts' : 'their types upcast'} to the current one`]
]

/**
 * Adds the `verify` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals verify ./demo-data
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('verify')
    .description('read everything and check it: records decode, positions without gaps, commit times never decrease, stream, id and tag indexes agree with the log, checkpoints and snapshots not past its end')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .option('--json', 'the report as one JSON object')
    .addHelpText('after', `
Examples:
  $ annals verify ./demo-data
  $ annals verify ./demo-data --events dist/demo/events.js
  $ annals verify postgres://app@db.internal/app --schema annals

With --events, also checks that every event stored at an older version of its type upcasts
with the application's steps (none throws, each returns { type, data, metadata }).

Exits with 0 when all is well, 1 when a problem was found (each is listed, with its position).
Reads only: works without the master key, and on a database too damaged to open. On a database
another process has open, it verifies through that process, on a snapshot, while appends go on
(then it needs the master key, if there is one, as every process that opens it).`))
    .action(async (dir: string, options: VerifyOptions) => {
      const postgres = isPostgresUrl(dir)
      const name = databaseName(dir, options.schema)
      if (!postgres && options.schema !== undefined) throw usage('--schema is for a database on PostgreSQL (a postgres:// URL)')
      if (postgres) await assertPostgresDatabase(dir, options.schema ?? 'annals')
      else assertDatabase(resolve(dir))
      let upcaster: Upcaster | undefined
      if (options.events !== undefined) {
        upcaster = new Upcaster()
        upcaster.define(checkEventDeclarations(await loadEvents(options.events)))
      }
      let bar: Progress | undefined
      const check = async (storage: Storage, source?: LogSource): Promise<Report> => {
        try {
          return await verifyStorage(storage, (done, total) => {
            bar ??= progress('verifying', total, 'steps')
            bar.update(done)
          }, upcaster, source)
        } finally {
          bar?.stop()
        }
      }
      let report: Report
      if (postgres) {
        const conn = Connection.make(dir, options.schema ?? 'annals')
        const source: LogSource = {
          verify: async (problem, progress) => await verifyPostgres(conn, problem, progress),
          events: head => new Readers(conn, () => head, () => {}).log({ from: 0, to: head, backwards: false, limit: Infinity })
        }
        try {
          report = await check(new PostgresStorage(conn), source)
        } catch (err) {
          throw explain(err, name)
        } finally {
          await conn.pool.end()
        }
      } else {
        let storage: LevelDoor | undefined
        try {
          storage = await LevelDoor.openPath(resolve(dir))
        } catch (err) {
          if (!(err instanceof AnnalsError && err.code === 'ANNALS_LOCKED')) throw explain(err, dir)
        }
        if (storage === undefined) {
          // open in another process: verified through it, on a snapshot, while it goes on
          report = await withDatabase(dir, options, async db => {
            const snapshot = await internalsOf(db).snapshot!()
            try {
              return await check(snapshot)
            } finally {
              await snapshot.close()
            }
          })
        } else {
          try {
            report = await check(storage)
          } catch (err) {
            throw explain(err, dir)
          } finally {
            await storage.close()
          }
        }
      }
      const problems = report.problems.length + report.more
      process.exitCode = problems === 0 ? ExitCode.ok : ExitCode.problem
      const out = new Lines()
      if (options.json === true) {
        await out.write(JSON.stringify({ ok: problems === 0, location: name, ...report }))
        return
      }
      await out.write(`verifying ${name}`)
      for (const [check, describe] of CHECKS) {
        if (check === 'upcasts' && report.upcast === undefined) continue
        const found = report.problems.filter(p => p.check === check)
        if (found.length === 0) {
          await out.write(`${color.green('✓')} ${describe(report, postgres)}`)
          continue
        }
        await out.write(`${color.red('✗')} ${check}: ${found.length} problem${found.length === 1 ? '' : 's'}`)
        for (const p of found) await out.write(`    ${p.message}`)
      }
      if (report.more > 0) await out.write(`    ... and ${count(report.more)} more problems`)
      if (report.pendingShreds > 0) {
        await out.write(color.yellow(`! ${count(report.pendingShreds)} shred${report.pendingShreds === 1 ? ' was' : 's were'} interrupted; the next open of the database finishes ${report.pendingShreds === 1 ? 'it' : 'them'}`))
      }
      if (problems === 0) {
        await out.write(color.green('ok: no problem found'))
      } else {
        const positions = report.problems.flatMap(p => p.position === undefined ? [] : [p.position])
        const first = positions.length === 0 ? '' : `, the first at position ${Math.min(...positions)}`
        await out.write(color.red(`verify found ${count(problems)} problem${problems === 1 ? '' : 's'}${first}`))
      }
    })
}
