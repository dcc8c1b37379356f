// A process of the PostgreSQL bench's "processes appending together" row (postgres-processes.ts),
// forked by it: opens annals on the schema, says `ready`, and on `go` appends its share of the
// events from its concurrent callers, then says `done`; `close` closes the database and exits.
// Arguments: url, schema, the shape (JSON), the first event's index, the count of events, the
// count of callers (each awaits its append before the next).
import { eventMaker, type Shape } from './lib.js'
import { open } from '../src/index.js'

/** What the appender says to its parent. */
export type AppenderMessage = { type: 'ready' } | { type: 'done' } | { type: 'failed', error: string }


const [url, schema, shapeJson, from, count, callers] = process.argv.slice(2)
const say = (m: AppenderMessage): void => { process.send!(m) }
const event = eventMaker(JSON.parse(shapeJson!) as Shape)
const first = Number(from)
const end = first + Number(count)
const db = await open({ postgres: url!, schema: schema! })
process.on('message', (m: string) => {
  if (m === 'go') {
    let next = first
    Promise.all(Array.from({ length: Number(callers) }, async () => {
      for (let i = next++; i < end; i = next++) {
        const e = event(i)
        await db.append(e.stream, { type: e.type, data: e.data })
      }
    })).then(() => { say({ type: 'done' }) }, (err: unknown) => { say({ type: 'failed', error: String(err) }) })
  } else if (m === 'close') {
    db.close().then(() => process.exit(0), () => process.exit(1))
  }
})
say({ type: 'ready' })
