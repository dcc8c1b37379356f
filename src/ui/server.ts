// The server of `annals ui`: a local web page over an open database, read-only. Hono routes the
// requests (through @hono/node-server); every one passes the guard of security.ts first. The
// page's data comes from data.ts and moments.ts, live updates from live.ts.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { Aggregate } from '../aggregates/define.js'
import { CliError, ExitCode } from '../cli/errors.js'
import { isAnnalsError } from '../errors.js'
import type { Annals } from '../store/annals.js'
import type { ApiError } from './api-types.js'
import { Assets, importMapHash, PAGE } from './assets.js'
import { Reader, type RunningView } from './data.js'
import { Live } from './live.js'
import { aggregateAt, momentOf, NotFound, viewAt, type At } from './moments.js'
import { guard, newToken, securityHeaders } from './security.js'

/** What the page is served over, besides the database. */
export interface UiOptions {
  /** How the page names the database (its folder as given); the database's location by default. */
  location?: string
  /** The port on 127.0.0.1; 0 (the default) for one the system picks. */
  port?: number
  /** The aggregates the time slider offers, by name. */
  aggregates?: ReadonlyMap<string, Aggregate>
  /** The projections (registered on `db`) whose views the time slider shows, by name. */
  views?: ReadonlyMap<string, RunningView>
}

/** A page being served. */
export interface UiServer {
  /** The address to open, token included: `http://127.0.0.1:<port>/?token=<token>`. */
  readonly url: string
  readonly port: number
  readonly token: string
  /** Stops serving: ends live updates and closes every connection (the database stays open). */
  close (): Promise<void>
}

/** Bounds of the sizes a page may ask for. */
const MAX_LIMIT = 500
const MAX_BUCKETS = 1000

/** A bad query: 400. */
class BadRequest extends Error {}

/**
 * Serves the page of `annals ui` over `db` on 127.0.0.1, behind a fresh token; resolves once it
 * listens. Nothing on the page can change the database.
 *
 * @example
 * ```ts
 * const ui = await startUi(db, { port: 0, aggregates: new Map([['account', Account]]) })
 * console.log(`open ${ui.url}`)
 * await ui.close()
 * ```
 */
export async function startUi (db: Annals, options: UiOptions = {}): Promise<UiServer> {
  const assets = new Assets()
  const reader = new Reader(db, options.location ?? db.location ?? '(in memory)', options.aggregates ?? new Map(), options.views ?? new Map())
  const token = newToken()
  let port = 0
  const live = new Live(reader)
  const app = routes(reader, assets, live)
  const root = new Hono()
  root.use(guard({ token, port: () => port, headers: securityHeaders(importMapHash) }))
  root.route('/', app)
  root.notFound(c => c.text('Not found\n', 404))
  root.onError((err, c) => answerError(c, err))
  const server = createAdaptorServer({ fetch: root.fetch }) as Server
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    await live.close()
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CliError(`Port ${options.port ?? 0} of 127.0.0.1 is in use: pick another with --port, or leave --port out for a free one`, ExitCode.usage, { cause: err })
    }
    throw err
  }
  port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: async () => {
      closing ??= (async () => {
        await live.close()
        await new Promise<void>(resolve => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
      })()
      await closing
    }
  }
}

function routes (reader: Reader, assets: Assets, live: Live): Hono {
  const app = new Hono()
  app.get('/', c => c.html(PAGE))
  app.get('/app/:name', c => asset(c, assets.client(c.req.param('name'))))
  app.get('/vendor/:name', c => asset(c, assets.vendor(c.req.param('name'))))
  app.get('/api/overview', async c => c.json(await reader.overview()))
  app.get('/api/progress', async c => c.json(await reader.progress()))
  app.get('/api/rate', async c => c.json(await reader.rate(int(c, 'buckets', 1, MAX_BUCKETS) ?? 120)))
  app.get('/api/streams', async c => c.json(await reader.streams(c.req.query('prefix') ?? '', c.req.query('after'), int(c, 'limit', 1, MAX_LIMIT) ?? 100)))
  app.get('/api/events', async c => c.json(await reader.streamEvents(text(c, 'stream'), int(c, 'from'), int(c, 'limit', 1, MAX_LIMIT) ?? 100, c.req.query('backwards') === '1')))
  app.get('/api/log', async c => c.json(await reader.logEvents(int(c, 'from'), int(c, 'to'), int(c, 'limit', 1, MAX_LIMIT) ?? 100, c.req.query('backwards') === '1')))
  app.get('/api/moment', async c => c.json(await momentOf(reader, at(c))))
  app.get('/api/aggregate', async c => c.json(await aggregateAt(reader, text(c, 'name'), text(c, 'stream'), at(c))))
  app.get('/api/view', async c => c.json(await viewAt(reader, text(c, 'name'), at(c), c.req.query('prefix') ?? '', int(c, 'limit', 1, MAX_LIMIT) ?? 100)))
  app.get('/api/live', c => streamSSE(c, async stream => { await live.attach(stream) }))
  return app
}

function asset (c: Context, found: { body: Buffer, type: string } | undefined): Response {
  if (found === undefined) return c.text('Not found\n', 404)
  return c.body(new Uint8Array(found.body), 200, { 'Content-Type': found.type })
}

/** A query parameter that must be given. */
function text (c: Context, name: string): string {
  const value = c.req.query(name)
  if (value === undefined || value === '') throw new BadRequest(`${name} is required`)
  return value
}

/** An integer query parameter within bounds, or undefined when not given. */
function int (c: Context, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = c.req.query(name)
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) throw new BadRequest(`${name} must be an integer from ${min} to ${max}`)
  return n
}

/** The slider's moment: `position` or `time` (ms since the epoch). */
function at (c: Context): At {
  const position = int(c, 'position')
  const time = int(c, 'time')
  if ((position === undefined) === (time === undefined)) throw new BadRequest('give position or time, one of them')
  return position !== undefined ? { position } : { time: time! }
}

function answerError (c: Context, err: Error): Response {
  const body = (status: 400 | 404 | 422 | 500, error: string, code?: string): Response => c.json({ error, ...code === undefined ? {} : { code } } satisfies ApiError, status)
  if (err instanceof BadRequest || err instanceof TypeError) return body(400, err.message)
  if (err instanceof NotFound) return body(404, err.message)
  // what the user's code did (an evolve that threw), or what the database says
  if (isAnnalsError(err)) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return body(422, `${err.message}${cause}`, err.code)
  }
  process.stderr.write(`annals ui: ${err.stack ?? err.message}\n`)
  return body(500, `annals failed: ${err.message}`)
}
