// The PostgreSQL backend's half of `annals verify`, on its tables directly (not through open(),
// which a damaged log can stop): every event's checksum and bytes, positions from 0 without
// gaps (but those a scavenge removed, the `removed` table's runs), commit times that never
// decrease, each stream's revisions without gaps from its first one stored (its `kept_from`) at
// increasing positions, the streams' rows and the head row against the events, ids used once,
// the tag index against the events' tags. The events are read a page at a time; the other checks
// are queries that the server answers (and that stop at the first problems they find).
import { decode } from '../../storage/codec.js'
import type { Problem, LogReport } from '../level/verify.js'
import type { Connection } from './connection.js'
import { FORMAT } from './tables.js'
import { EVENT_COLUMNS, eventSum, type EventRow } from './rows.js'

const PAGE = 1000
/** Problems of one kind a query lists at most. */
const LIMIT = 20

export async function verifyPostgres (conn: Connection, problem: (p: Problem) => void, progress: (done: number, total: number) => void): Promise<LogReport> {
  const s = conn.s
  const format = (await conn.query<{ value: string }>(`select value from ${s}.meta where name = 'format'`))[0]?.value
  if (format !== String(FORMAT)) problem({ check: 'format', message: `The format says ${String(format)}; this annals reads format ${FORMAT}` })
  const [{ head, total }] = await conn.query<{ head: number | null, total: number }>(`select (select position from ${s}.head) as head, (select count(*) from ${s}.events)::bigint as total`) as [{ head: number | null, total: number }]

  // the runs of positions a scavenge removed
  const removed = await conn.query<{ first: number, last: number }>(`select first, last from ${s}.removed order by first`)
  let run = 0
  /** The first position from `from` on that a scavenge did not remove (calls go forwards). */
  const pastRemoved = (from: number): number => {
    while (run < removed.length && Number(removed[run]!.last) < from) run++
    let p = from
    while (run < removed.length && Number(removed[run]!.first) <= p) p = Math.max(p, Number(removed[run++]!.last) + 1)
    return p
  }
  // every event, in position order
  let expected = pastRemoved(0)
  let time = -Infinity
  let count = 0
  for (;;) {
    const rows = await conn.query<EventRow>(`select ${EVENT_COLUMNS} from ${s}.events where position >= $1 order by position limit ${PAGE}`, [expected])
    for (const row of rows) {
      count++
      if (row.position !== expected) {
        problem({ check: 'records', position: expected, message: `Position ${expected}${row.position - expected > 1 ? ` to ${row.position - 1}` : ''} ${row.position - expected > 1 ? 'are' : 'is'} missing: the log jumps to ${row.position}` })
      }
      if (row.time < time) problem({ check: 'times', position: row.position, message: `The commit time goes back at position ${row.position}: ${new Date(row.time).toISOString()}, after ${new Date(time).toISOString()}` })
      time = Math.max(time, row.time)
      if (eventSum(row) !== row.sum) {
        problem({ check: 'records', position: row.position, message: `The event at position ${row.position} does not match its checksum` })
      } else {
        try {
          decode(row.data)
          if (row.metadata !== null) decode(row.metadata)
        } catch (err) {
          problem({ check: 'records', position: row.position, message: `The event at position ${row.position} does not decode (${(err as Error).message})` })
        }
      }
      expected = pastRemoved(row.position + 1)
    }
    progress(count, 2 * Number(total))
    if (rows.length < PAGE) break
  }
  if ((head ?? -1) !== expected - 1) problem({ check: 'records', message: `The head row says the log ends at position ${String(head)}; its last event is at ${expected - 1}` })

  // each stream's revisions, and its row
  for (const r of await conn.query<{ stream: string, revision: number, position: number, before: number | null }>(
    `select x.stream, x.revision, x.position, x.before from (select stream, revision, position, lag(revision) over w as before, lag(position) over w as before_position
     from ${s}.events window w as (partition by stream order by revision)) x left join ${s}.streams b on b.stream = x.stream
     where x.revision <> coalesce(x.before + 1, b.kept_from, 0) or x.position <= x.before_position limit ${LIMIT}`)) {
    problem({ check: 'streams', position: r.position, message: `Stream '${r.stream}' has revision ${r.revision} at position ${r.position} after revision ${String(r.before ?? 'none')}` })
  }
  for (const r of await conn.query<{ stream: string, stored: number | null, last: number | null, position: number | null }>(
    `select coalesce(b.stream, e.stream) as stream, b.revision as stored, e.revision as last, e.position
     from ${s}.streams b full join (select distinct on (stream) stream, revision, position, time from ${s}.events order by stream, revision desc) e on e.stream = b.stream
     where (b.revision is distinct from e.revision or b.position is distinct from e.position or b.time is distinct from e.time)
       and not (e.stream is null and b.kept_from > b.revision) limit ${LIMIT}`)) {
    problem({ check: 'streams', ...(r.position === null ? {} : { position: r.position }), message: `The row of stream '${r.stream}' says revision ${String(r.stored ?? 'none')}; its events end at revision ${String(r.last ?? 'none')}` })
  }
  progress(expected + Number(total) / 2, 2 * Number(total))

  // ids used once, and the tag index
  for (const r of await conn.query<{ id: string, n: number }>(`select id, count(*)::bigint as n from ${s}.events group by id having count(*) > 1 limit ${LIMIT}`)) {
    problem({ check: 'ids', message: `The id '${r.id}' is on ${r.n} events` })
  }
  for (const r of await conn.query<{ tag: string, position: number }>(
    `select g.tag, g.position from ${s}.event_tags g left join ${s}.events e on e.position = g.position
     where e.position is null or e.tags is null or not (g.tag = any(e.tags)) limit ${LIMIT}`)) {
    problem({ check: 'tags', position: r.position, message: `The tag index has '${r.tag}' at position ${r.position}, whose event does not carry it` })
  }
  for (const r of await conn.query<{ tag: string, position: number }>(
    `select t.tag, e.position from ${s}.events e cross join lateral unnest(e.tags) as t(tag)
     where not exists (select 1 from ${s}.event_tags g where g.tag = t.tag and g.position = e.position) limit ${LIMIT}`)) {
    problem({ check: 'tags', position: r.position, message: `The event at position ${r.position} carries the tag '${r.tag}', which the tag index lacks` })
  }
  const streams = (await conn.query<{ n: number }>(`select count(*)::bigint as n from ${s}.streams`))[0]!.n
  const tagEntries = (await conn.query<{ n: number }>(`select count(*)::bigint as n from ${s}.event_tags`))[0]!.n
  progress(2 * Number(total), 2 * Number(total))
  return {
    events: expected,
    streams: Number(streams),
    indexedUpTo: expected - 1,
    idEntries: Number(total),
    tagEntries: Number(tagEntries),
    lastRevision: async stream => (await conn.query<{ r: number | null }>(`select max(revision) as r from ${s}.events where stream = $1`, [stream]))[0]?.r ?? -1
  }
}
