// The databases every contract suite runs on: memory-level, classic-level, a sublevel of each,
// and PostgreSQL (a schema of its own per fixture, on the test file's server: see postgres.ts).
// A fixture opens annals on the same storage as often as a test likes, so reopening is part of
// the contract.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryLevel } from 'memory-level'
import pg from 'pg'
import { LevelKeyStore, MemoryKeyStore, open, type Annals, type OpenOptions } from '../../src/index.js'
import type { ChildProcess } from 'node:child_process'
import { startChild } from './child.js'
import { postgresForTests, type NoPostgres, type TestPostgres } from './postgres.js'

export interface Fixture {
  /** Opens annals on this fixture's storage (again). */
  open (options?: OpenOptions): Promise<Annals>
  /** Where the fixture can see it: how many writes so far asked the storage for sync. */
  syncedWrites?: () => number
  /** Removes what the fixture made. */
  cleanup (): Promise<void>
}

export interface Backend {
  name: string
  /** true when storage lives in files (classic-level) */
  onDisk: boolean
  /** false when inline projections cannot run where the test registers them (a client of another process) */
  inlineHere?: boolean
  /** false when commit times come from another process's clock (a server's, an owner's), which a test cannot move */
  clockHere?: boolean
  make (): Promise<Fixture>
}

/** A fresh temporary folder, removed by the returned function. */
export function tempDir (prefix = 'annals-test-'): { dir: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A MemoryLevel that counts the writes that ask for sync, as LevelDB would fsync them. */
export function syncCounting (): { level: MemoryLevel, synced: () => number } {
  const level = new MemoryLevel()
  let synced = 0
  type Write = (...args: unknown[]) => Promise<void>
  const inner = level as unknown as { _put: Write, _batch: Write }
  for (const method of ['_put', '_batch'] as const) {
    const write = inner[method].bind(level)
    inner[method] = async (...args: unknown[]) => {
      if ((args[args.length - 1] as { sync?: boolean } | undefined)?.sync === true) synced++
      await write(...args)
    }
  }
  return { level, synced: () => synced }
}

let server: Promise<TestPostgres | NoPostgres> | undefined

/** This test file's PostgreSQL database (started on first use), or why there is none. */
export async function postgresServer (): Promise<TestPostgres | NoPostgres> {
  server ??= postgresForTests()
  return await server
}

/** Drops this test file's PostgreSQL database (and stops its server, if it started one). */
export async function stopPostgres (): Promise<void> {
  const s = server
  server = undefined
  await (await s)?.stop?.()
}

let schemas = 0

/** Runs one statement on this test file's PostgreSQL database. */
export async function postgresQuery<R extends pg.QueryResultRow = pg.QueryResultRow> (text: string, values: unknown[] = []): Promise<R[]> {
  const s = await postgresServer()
  if (s.url === undefined) throw new Error(s.skip)
  const client = new pg.Client({ connectionString: s.url })
  await client.connect()
  try {
    return (await client.query<R>(text, values)).rows
  } finally {
    await client.end()
  }
}

export const backends: Backend[] = [
  {
    name: 'memory-level',
    onDisk: false,
    async make () {
      const { level, synced } = syncCounting()
      // a database on a level keeps its subjects' keys in a store the application gives
      const keyStore = new MemoryKeyStore()
      return {
        open: async options => await open({ level }, { keyStore, ...options }),
        syncedWrites: synced,
        cleanup: async () => { await level.close() }
      }
    }
  },
  {
    name: 'classic-level',
    onDisk: true,
    async make () {
      const { dir, remove } = tempDir()
      return {
        open: async options => await open(join(dir, 'db'), options),
        cleanup: async () => { remove() }
      }
    }
  },
  {
    name: 'memory-level sublevel',
    onDisk: false,
    async make () {
      const { level, synced } = syncCounting()
      const sub = level.sublevel('app')
      const keyStore = new MemoryKeyStore()
      return {
        open: async options => await open({ level: sub }, { keyStore, ...options }),
        syncedWrites: synced,
        cleanup: async () => { await level.close() }
      }
    }
  },
  {
    name: 'classic-level sublevel',
    onDisk: true,
    async make () {
      const { dir, remove } = tempDir()
      const levels: ClassicLevel[] = []
      const keyStore = new LevelKeyStore(join(dir, 'keys'))
      let last: Annals | undefined
      return {
        async open (options) {
          // a fresh ClassicLevel each time, as a restarted application would make; the one
          // before is closed first unless annals still has it open (then this open must fail)
          if (last !== undefined && last.status === 'closed') await levels.at(-1)?.close()
          const level = new ClassicLevel(join(dir, 'db'))
          levels.push(level)
          last = await open({ level: level.sublevel('events') }, { keyStore, ...options })
          return last
        },
        async cleanup () {
          for (const level of levels) await level.close()
          await keyStore.close()
          remove()
        }
      }
    }
  },
  {
    name: 'postgres',
    onDisk: true,
    clockHere: false,
    async make () {
      const s = await postgresServer()
      if (s.url === undefined) throw new Error(`no PostgreSQL for the tests: ${s.skip}`)
      // a schema of its own: its tables, functions and subjects' keys
      const schema = `t${process.pid}_${schemas++}`
      return {
        open: async options => await open({ postgres: s.url, schema }, options),
        cleanup: async () => { await postgresQuery(`drop schema if exists ${schema} cascade`) }
      }
    }
  }
]

/** One child process owns the folders of the fixtures below, each opened and closed on request. */
let owners: { child: ChildProcess, waiting: Map<string, () => void> } | undefined

async function ownerSays (command: 'open' | 'close', path: string): Promise<void> {
  if (owners === undefined) {
    const waiting = new Map<string, () => void>()
    const child = await startChild('owner.mjs', [], line => {
      const [word, dir] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]
      waiting.get(`${word} ${dir}`)?.()
    }, { stdin: true })
    owners = { child, waiting }
  }
  // between requests it keeps the test process from nothing: it goes when the test process does
  // (its standard input closes)
  const { child, waiting } = owners
  const streams = [child, child.stdin, child.stdout] as unknown as Array<{ ref?: () => void, unref?: () => void }>
  for (const s of streams) s.ref?.()
  const answer = `${command === 'open' ? 'ready' : 'closed'} ${path}`
  await new Promise<void>(resolve => {
    waiting.set(answer, resolve)
    child.stdin!.write(`${command} ${path}\n`)
  })
  waiting.delete(answer)
  if (waiting.size === 0) for (const s of streams) s.unref?.()
}

/**
 * A client of another process: a child process owns the folder (and serves it) for the whole
 * fixture; every open of the test's is a client of it, so every contract test runs through the
 * socket.
 */
export const clientBackend: Backend = {
  name: 'client of another process',
  onDisk: true,
  inlineHere: false,
  clockHere: false,
  async make () {
    const { dir, remove } = tempDir()
    const path = join(dir, 'db')
    await ownerSays('open', path)
    const opened: Annals[] = []
    return {
      open: async options => {
        const db = await open(path, options)
        opened.push(db)
        if (db.role !== 'client') throw new Error(`expected a client, got the ${db.role}`)
        return db
      },
      cleanup: async () => {
        // a test that failed half-way may leave its client open: it would take the folder over
        for (const db of opened) await db.close().catch(() => {})
        await ownerSays('close', path)
        remove()
      }
    }
  }
}

/** Collects an async iterable into an array. */
export async function collect<T> (iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}
