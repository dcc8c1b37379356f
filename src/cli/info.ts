// `annals info <dir>`: what a database holds, at a glance.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { parseSnapshotKey } from '../aggregates/snapshot-keys.js'
import { Space, readU64, spaceEnd, spaceStart } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { internalsOf } from '../store/internals.js'
import type { Annals } from '../store/annals.js'
import { databaseName, databaseOptions, withDatabase, type DatabaseOptions } from './database.js'
import { PostgresBackend } from '../backend/postgres/postgres-backend.js'
import { bytes, color, count, isoTime, Lines } from './output.js'
import { storedProjections } from './projection-records.js'
import { chunksOf } from './scan.js'

interface InfoOptions extends DatabaseOptions {
  json?: boolean
}

/** A durable subscription's checkpoint. */
interface Checkpoint {
  name: string
  /** the last position it handled (-1 for none), as status() says */
  position: number
  /** events committed that it has not handled */
  lag: number
}

/** What `annals info` reports. */
export interface Info {
  location: string
  /** how this command opened it: as its owner, or as a client of the process that holds it */
  role: 'owner' | 'client'
  events: number
  streams: number
  firstTime: number | null
  lastTime: number | null
  /** the folder's files, or the tables and indexes on PostgreSQL */
  sizeBytes: number
  subscriptions: Checkpoint[]
  /** projections as stored: the last position each handled (as status() says), its lag, whether it is being rebuilt */
  projections: Array<{ name: string, version: number, position: number, lag: number, state: 'up to date' | 'behind' | 'rebuilding' }>
  /** snapshots by aggregate name and version */
  snapshots: Array<{ aggregate: string, version: number, count: number }>
  shreddedSubjects: number
}

/**
 * Adds the `info` command to the program (see docs/cli.md).
 *
 * @example
 * ```sh
 * annals info ./demo-data
 * ```
 */
export function register (program: Command): void {
  databaseOptions(program.command('info')
    .description('what a database holds: events, streams, first and last commit time, size on disk, durable subscriptions, projections, snapshots, shredded subjects; and whether another process has it open')
    .argument('<dir>', 'the database folder, or a postgres:// URL')
    .option('--json', 'one JSON object instead of the table')
    .addHelpText('after', '\nExample:\n  $ annals info ./demo-data\n  $ annals info ./demo-data --json | jq .events'))
    .action(async (dir: string, options: InfoOptions) => {
      const info = await withDatabase(dir, options, async db => await gather(db, databaseName(dir, options.schema)))
      const out = new Lines()
      if (options.json === true) {
        await out.write(JSON.stringify(info))
        return
      }
      const row = (label: string, value: string): string => value === '' ? color.dim(label) : `${color.dim(label.padEnd(20))}${value}`
      await out.write(row('database', info.location))
      await out.write(row('opened as', info.role === 'client' ? 'client (another process has it open, and serves this one)' : 'owner (no other process had it open)'))
      await out.write(row('events', info.events === 0 ? 'none' : `${count(info.events)} (positions 0 to ${count(info.events - 1)})`))
      await out.write(row('streams', count(info.streams)))
      await out.write(row('first commit', info.firstTime === null ? '-' : isoTime(info.firstTime)))
      await out.write(row('last commit', info.lastTime === null ? '-' : isoTime(info.lastTime)))
      await out.write(row('size on disk', bytes(info.sizeBytes)))
      await out.write(row('subscriptions', info.subscriptions.length === 0 ? 'none' : ''))
      for (const s of info.subscriptions) {
        await out.write(`  ${s.name.padEnd(18)}handled up to position ${count(s.position)}, ${s.lag === 0 ? color.green('up to date') : color.yellow(`${count(s.lag)} events behind`)}`)
      }
      await out.write(row('projections', info.projections.length === 0 ? 'none' : ''))
      for (const p of info.projections) {
        const state = p.state === 'up to date' ? color.green('up to date') : p.state === 'rebuilding' ? color.yellow('being rebuilt') : color.yellow(`${count(p.lag)} events behind`)
        await out.write(`  ${`${p.name} v${p.version}`.padEnd(18)}handled up to position ${count(p.position)}, ${state}`)
      }
      const total = info.snapshots.reduce((n, s) => n + s.count, 0)
      await out.write(row('snapshots', total === 0 ? 'none' : `${count(total)} (${info.snapshots.map(s => `${s.aggregate} v${s.version}: ${count(s.count)}`).join(', ')})`))
      await out.write(row('shredded subjects', count(info.shreddedSubjects)))
    })
}

/**
 * What `annals info` reports of an open database, `dir` being how to name its folder (the
 * overview of `annals ui` too).
 *
 * @example
 * ```ts
 * const info = await gather(db, './data')
 * console.log(info.events, info.streams)
 * ```
 */
export async function gather (db: Annals, dir: string): Promise<Info> {
  const { log, privacy } = internalsOf(db)
  const head = log.head.position
  let streams = 0
  for await (const _ of log.backend.streams({ prefix: '', after: undefined, limit: Infinity })) streams++
  return {
    location: dir,
    role: db.role,
    events: head + 1,
    streams,
    firstTime: head < 0 ? null : (await db.readAll({ limit: 1 }).toArray())[0]?.time ?? null,
    lastTime: head < 0 ? null : log.head.time,
    sizeBytes: log.backend instanceof PostgresBackend ? await log.backend.sizeBytes() : db.location === undefined ? 0 : sizeOf(db.location),
    ...await progressOf(db),
    snapshots: await snapshots(log.storage),
    shreddedSubjects: await privacy.shreddedCount()
  }
}

/**
 * Where the durable subscriptions and the projections stand, as stored, and their lag: the part
 * of {@link gather} that changes as events are appended, cheap to ask again (the live lag of
 * `annals ui`).
 *
 * @example
 * ```ts
 * const { subscriptions, projections } = await progressOf(db)
 * ```
 */
export async function progressOf (db: Annals): Promise<Pick<Info, 'subscriptions' | 'projections'>> {
  const { log } = internalsOf(db)
  const head = log.head.position
  return { subscriptions: await checkpoints(log.storage, head), projections: await projections(log.storage, head) }
}

/** The durable subscriptions' checkpoints. */
async function checkpoints (storage: Storage, head: number): Promise<Checkpoint[]> {
  const out: Checkpoint[] = []
  for await (const entries of chunksOf(storage.entries({ gte: spaceStart(Space.subscriptions), lt: spaceEnd(Space.subscriptions) }), 256)) {
    for (const [key, value] of entries) {
      const next = value.length === 8 ? readU64(value, 0) ?? 0 : 0
      out.push({ name: key.subarray(1).toString('utf8'), position: next - 1, lag: Math.max(0, head + 1 - next) })
    }
  }
  return out
}

/** The projections' stored records: where each stands. */
async function projections (storage: Storage, head: number): Promise<Info['projections']> {
  const out: Info['projections'] = []
  for await (const { name, active, building } of storedProjections(storage)) {
    const record = active ?? building!
    const lag = Math.max(0, head + 1 - record.next)
    out.push({ name, version: record.version, position: record.next - 1, lag, state: building !== undefined ? 'rebuilding' : lag === 0 ? 'up to date' : 'behind' })
  }
  return out
}

/** How many snapshots each aggregate (name and version) keeps. */
async function snapshots (storage: Storage): Promise<Info['snapshots']> {
  const counts = new Map<string, Info['snapshots'][number]>()
  for await (const keys of chunksOf(storage.keys({ gte: spaceStart(Space.snapshots), lt: spaceEnd(Space.snapshots) }))) {
    for (const key of keys) {
      const parsed = parseSnapshotKey(key)
      if (parsed === undefined) continue
      const id = `${parsed.name}\u0000${parsed.version}`
      let entry = counts.get(id)
      if (entry === undefined) counts.set(id, entry = { aggregate: parsed.name, version: parsed.version, count: 0 })
      entry.count++
    }
  }
  return [...counts.values()].sort((a, b) => a.aggregate < b.aggregate ? -1 : a.aggregate > b.aggregate ? 1 : a.version - b.version)
}

/** Bytes of every file under a folder. */
function sizeOf (dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? sizeOf(path) : entry.isFile() ? statSync(path).size : 0
  }
  return total
}
