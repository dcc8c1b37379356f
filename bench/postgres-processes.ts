// The PostgreSQL bench's row of processes appending together (the issue's "4 processes appending
// together at least 2 times one process"): the same count of events appended, each process from
// 64 concurrent callers (postgres-appender.ts), by 4 processes sharing them out against 1 alone,
// in the same runs. Each run opens a schema afresh and forks its processes before the clock
// starts (their start and open are not timed); the clock runs from `go` to the last `done`.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { Shape } from './lib.js'
import type { Timing, Workload } from './measure.js'
import type { AppenderMessage } from './postgres-appender.js'
import { open } from '../src/index.js'

const SCHEMA = 'annals_bench_processes'
const APPENDER = fileURLToPath(new URL('./postgres-appender.js', import.meta.url))

/** Waits for a message of `child` of the given type (rejects on `failed` or exit). */
async function heard (child: ChildProcess, type: 'ready' | 'done'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: AppenderMessage): void => {
      if (m.type === type) { off(); resolve() } else if (m.type === 'failed') { off(); reject(new Error(`an appender failed: ${m.error}`)) }
    }
    const onExit = (code: number | null): void => { off(); reject(new Error(`an appender exited with ${String(code)}`)) }
    const off = (): void => { child.off('message', onMessage); child.off('exit', onExit) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** `events` appended by `processes` processes at once, on a schema made afresh. */
async function together (url: string, pool: pg.Pool, shape: Shape, processes: number, events: number): Promise<Timing> {
  await pool.query(`drop schema if exists ${SCHEMA} cascade`)
  await (await open({ postgres: url, schema: SCHEMA })).close()
  const share = Math.ceil(events / processes)
  const children = Array.from({ length: processes }, (_, p) => fork(APPENDER,
    [url, SCHEMA, JSON.stringify(shape), String(p * share), String(Math.max(0, Math.min(share, events - p * share)))],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  try {
    await Promise.all(children.map(async c => { await heard(c, 'ready') }))
    const start = performance.now()
    const done = children.map(async c => { await heard(c, 'done') })
    for (const c of children) c.send('go')
    await Promise.all(done)
    const ms = performance.now() - start
    const [{ n }] = (await pool.query<{ n: string }>(`select count(*) as n from ${SCHEMA}.events`)).rows as [{ n: string }]
    if (Number(n) !== events) throw new Error(`${n} events stored where ${events} were appended`)
    return { events, ms }
  } finally {
    await Promise.all(children.map(async c => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise(resolve => c.once('exit', resolve))
      c.send('close')
      await exited
    }))
  }
}

/** The row, appending `events` events in each run; `close` drops its schema. */
export function processesWorkload (url: string, pool: pg.Pool, shape: Shape, events: number): { workload: Workload, close: () => Promise<void> } {
  return {
    workload: {
      name: 'PostgreSQL: 4 processes appending together (64 concurrent callers each)',
      unit: 'events',
      raw: 'annals, 1 process appending alone (64 concurrent callers)',
      target: 2,
      annals: async () => await together(url, pool, shape, 4, events),
      baseline: async () => await together(url, pool, shape, 1, events)
    },
    close: async () => { await pool.query(`drop schema if exists ${SCHEMA} cascade`) }
  }
}
