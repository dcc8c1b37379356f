// Scavenging the PostgreSQL backend: deleting the rows of the events that no longer read (the
// rules of streams' lives, rules.ts). The events are walked in position order a page at a time
// (flat memory, four small columns a row); the rows of each page's removed events go in one
// transaction with their tag index rows, the run of positions they leave recorded in `removed`
// (so that reads and `verify` tell removal from damage) and each stream's `kept_from` moved past
// them (every rule removes a prefix of a stream). A crash in the middle loses nothing: the next
// scavenge walks again and deletes what is left. Only rows a transaction really deleted are
// recorded, so two processes scavenging at once record each run once.
//
// The deleted rows' bytes stay in the tables' files until `compact` (VACUUM FULL).
import type { ScavengeReport } from '../backend.js'
import { Visibility, type Rules } from '../rules.js'
import { rollback, storageError, type Connection } from './connection.js'

/** Events looked at per transaction. */
const PAGE = 256

interface Row { stream: string, revision: number, position: number, time: number }

/**
 * Deletes the rows of what no longer reads under `rules`, up to the head as it is now; `onRemoved`
 * is told the positions removed, this time and before (runs of `removed`), for the layers above
 * to drop what they derived from them.
 */
export async function scavenge (conn: Connection, rules: Rules, lastRevision: (stream: string) => Promise<number>,
  progress?: (done: number, total: number) => void, onRemoved?: (positions: number[]) => void): Promise<ScavengeReport> {
  const s = conn.s
  const head = Number((await conn.query<{ position: number }>(`select position from ${s}.head`))[0]!.position)
  // what earlier scavenges removed: told again, as a crash may have come before the layers above heard
  if (onRemoved !== undefined) {
    for (const run of await conn.query<{ first: number, last: number }>(`select first, last from ${s}.removed order by first`)) {
      for (let p = run.first; p <= run.last; p += PAGE) onRemoved(range(p, Math.min(run.last, p + PAGE - 1)))
    }
  }
  let removed = 0
  if (!rules.any || head < 0) {
    progress?.(head + 1, head + 1)
    return { removed, scanned: head + 1 }
  }
  const visibility = new Visibility(rules, lastRevision)
  let next = 0
  while (next <= head) {
    const rows = await conn.query<Row>(`select stream, revision, position, time from ${s}.events where position >= $1 and position <= $2 order by position limit ${PAGE}`, [next, head])
    if (rows.length === 0) break
    await visibility.prepare(new Set(rows.map(r => r.stream)))
    const gone = rows.filter(r => !visibility.visible(r.stream, r.revision, r.position, r.time)).map(r => r.position)
    if (gone.length > 0) {
      const deleted = await deleteRows(conn, gone)
      removed += deleted.length
      if (deleted.length > 0) onRemoved?.(deleted)
    }
    next = rows[rows.length - 1]!.position + 1
    progress?.(Math.min(next, head + 1), head + 1)
  }
  return { removed, scanned: head + 1 }
}

/** Deletes the events at `positions` in one transaction; returns the positions it deleted. */
async function deleteRows (conn: Connection, positions: number[]): Promise<number[]> {
  const s = conn.s
  const client = await conn.connect()
  try {
    await client.query('begin')
    await conn.queryOn(client, `delete from ${s}.event_tags where position = any($1::bigint[])`, [positions])
    const rows = await conn.queryOn<{ position: number, stream: string, revision: number }>(client,
      `delete from ${s}.events where position = any($1::bigint[]) returning position, stream, revision`, [positions])
    const deleted = rows.map(r => Number(r.position)).sort((a, b) => a - b)
    const firsts: number[] = []
    const lasts: number[] = []
    for (const p of deleted) {
      if (lasts.length > 0 && lasts[lasts.length - 1] === p - 1) lasts[lasts.length - 1] = p
      else {
        firsts.push(p)
        lasts.push(p)
      }
    }
    if (firsts.length > 0) await conn.queryOn(client, `insert into ${s}.removed (first, last) select * from unnest($1::bigint[], $2::bigint[])`, [firsts, lasts])
    const kept = new Map<string, number>()
    for (const r of rows) kept.set(r.stream, Math.max(kept.get(r.stream) ?? 0, Number(r.revision) + 1))
    if (kept.size > 0) {
      await conn.queryOn(client, `update ${s}.streams b set kept_from = greatest(b.kept_from, k.r) from unnest($1::text[], $2::bigint[]) as k(s, r) where b.stream = k.s`,
        [[...kept.keys()], [...kept.values()]])
    }
    await client.query('commit')
    client.release()
    return deleted
  } catch (err) {
    await rollback(client)
    throw storageError(err)
  }
}

function range (from: number, to: number): number[] {
  const out: number[] = new Array(to - from + 1)
  for (let i = 0; i < out.length; i++) out[i] = from + i
  return out
}
