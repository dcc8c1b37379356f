// A PostgreSQL server for the tests: the one `ANNALS_TEST_POSTGRES` names (CI starts one for
// the whole run, .ci/postgres.sh), or else a throwaway server of this test file's own, started
// from the binaries of an installed PostgreSQL (Debian's under /usr/lib/postgresql/*/bin, or on
// the PATH) in a temporary folder. Either way each test file gets a database of its own, so
// that files run in parallel; tests that need several isolated stores in one file give each a
// schema of its own. Without a server, the tests skip with the reason.
import { spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import pg from 'pg'

/** A database of this test file's own on a running server. */
export interface TestPostgres {
  /** the database's URL, `postgres://user@host:port/name` */
  url: string
  /** Drops the database and stops the server if this file started it. */
  stop: () => Promise<void>
  skip?: undefined
}

/** Why there is no server: tap's `{ skip }` takes it as it is. */
export interface NoPostgres { url?: undefined, stop?: undefined, skip: string }

interface Server { url: string, stop: () => Promise<void> }

/**
 * A fresh database for this test file, or the reason to skip.
 *
 * `ANNALS_TEST_POSTGRES`: a URL of a server on which the user may create databases (`off`
 * skips). Unset: a throwaway server if PostgreSQL's `initdb` and `pg_ctl` are installed, run as
 * the `postgres` user when the tests run as root (initdb refuses root), listening on 127.0.0.1 at
 * a free port and on a Unix socket in a short folder under /tmp, with the server's fsync settings
 * left at their defaults. It is stopped by `stop`, and by a watchdog process if this one dies
 * without calling it.
 *
 * @example
 * const pg = await postgresForTests()
 * t.test('appends on PostgreSQL', { skip: pg.skip ?? false }, async t => {
 *   t.teardown(pg.stop!)
 *   const db = await open({ postgres: pg.url! })
 * })
 */
export async function postgresForTests (): Promise<TestPostgres | NoPostgres> {
  const given = process.env.ANNALS_TEST_POSTGRES
  if (given === 'off') return { skip: 'ANNALS_TEST_POSTGRES=off' }
  let server: Server
  if (given !== undefined && given !== '') {
    server = { url: given, stop: async () => {} }
  } else {
    const bin = postgresBin()
    if (bin === undefined) return { skip: 'no PostgreSQL server: set ANNALS_TEST_POSTGRES to a URL, or install PostgreSQL (initdb and pg_ctl, e.g. `apt-get install postgresql`)' }
    const runAs = process.getuid?.() === 0 ? 'postgres' : undefined
    if (runAs !== undefined && spawnSync('id', ['-u', runAs]).status !== 0) return { skip: 'running as root, and there is no user postgres to run a throwaway PostgreSQL server as' }
    server = await startServer(bin, runAs)
  }
  try {
    const database = `annals_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
    await admin(server.url, `create database ${database}`)
    const url = new URL(server.url)
    url.pathname = `/${database}`
    return {
      url: url.toString(),
      stop: async () => {
        try {
          await admin(server.url, `drop database if exists ${database} with (force)`)
        } finally {
          await server.stop()
        }
      }
    }
  } catch (err) {
    await server.stop()
    throw err
  }
}

async function admin (url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

/** The folder of `initdb` and `pg_ctl`: on the PATH, else the newest of Debian's versions. */
export function postgresBin (): string | undefined {
  const has = (dir: string): boolean => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '' && has(dir)) return dir
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter(v => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
  return versions.map(v => join(root, v, 'bin')).find(has)
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Runs a PostgreSQL binary, as `runAs` when given; throws with its output when it fails. */
function run (bin: string, runAs: string | undefined, command: string, args: string[]): void {
  const [file, argv] = runAs === undefined ? [join(bin, command), args] : ['runuser', ['-u', runAs, '--', join(bin, command), ...args]]
  const r = spawnSync(file, argv, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${command} failed (${r.error?.message ?? `exit code ${r.status}`}):\n${r.stdout}${r.stderr}`)
}

/**
 * Starts a server in a new folder under /tmp (short, for the socket's path): `initdb` with trust
 * authentication for local connections, then `pg_ctl start` on a free port (tried again on
 * another port if that one was taken meanwhile).
 */
async function startServer (bin: string, runAs: string | undefined): Promise<Server> {
  const dir = mkdtempSync('/tmp/annals-pg-')
  const data = join(dir, 'data')
  const log = join(dir, 'log')
  const remove = (): void => { rmSync(dir, { recursive: true, force: true }) }
  if (runAs !== undefined) {
    const { uid, gid } = userInfoOf(runAs)
    chownSync(dir, uid, gid)
  }
  const user = 'postgres'
  try {
    // --no-sync: initdb does not flush the new cluster's files, which are thrown away after
    run(bin, runAs, 'initdb', ['-D', data, '-U', user, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  } catch (err) {
    remove()
    throw err
  }
  const pgCtl = (args: string[]): void => { run(bin, runAs, 'pg_ctl', ['-D', data, ...args]) }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    try {
      pgCtl(['-l', log, '-w', '-t', '60', '-o', `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir}`, 'start'])
    } catch (err) {
      const taken = existsSync(log) && /could not bind|Address already in use/.test(readFileSync(log, 'utf8'))
      if (taken && attempt < 3) continue
      remove()
      throw new Error(`${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`)
    }
    const watchdog = startWatchdog(bin, runAs, data, dir)
    return {
      url: `postgres://${user}@127.0.0.1:${port}/postgres`,
      stop: async () => {
        watchdog.kill()
        try { pgCtl(['-m', 'fast', '-w', 'stop']) } finally { remove() }
      }
    }
  }
}

function userInfoOf (name: string): { uid: number, gid: number } {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' })
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' })
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
}

/**
 * A detached shell that stops the server and removes its folder once this process is gone, so
 * that a test process killed or timed out leaves no server running. `stop` ends it first.
 */
function startWatchdog (bin: string, runAs: string | undefined, data: string, dir: string): { kill: () => void } {
  const pgCtl = runAs === undefined ? `"${join(bin, 'pg_ctl')}"` : `runuser -u ${runAs} -- "${join(bin, 'pg_ctl')}"`
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${pgCtl} -D "${data}" -m immediate stop >/dev/null 2>&1; rm -rf "${dir}"`
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
  child.unref()
  return { kill: () => { if (child.exitCode === null) child.kill() } }
}
