// The first step of an append checked under the lock (writer.ts): `prepare` (functions.ts) takes
// the lock of the head row in the writer's transaction and returns what the group's checks
// need; here its rows become what a batch (batch.ts) is checked against.
import type pg from 'pg'
import type { AppendCondition } from '../backend.js'
import type { Placed } from '../append-checks.js'
import type { Visibility } from '../rules.js'
import { groupKeys, type Known, type Request } from './batch.js'
import type { Connection } from './connection.js'
import { corruptAt, eventSum } from './rows.js'

const EMPTY = Buffer.alloc(0)

/** A row of `prepare`, by kind (see functions.ts). */
interface PrepareRow {
  o_kind: number
  o_n: number | null
  o_stream: string | null
  o_revision: number | null
  o_position: number | null
  o_id: string | null
  o_type: string | null
  o_version: number | null
  o_tags: string[] | null
  o_data: Buffer | null
  o_metadata: Buffer | null
  o_sealed: boolean | null
  o_digest: Buffer | null
  o_sum: number | null
}

/** What the lock's holder learned: the head, the batch's commit time, the owner of inline projections, the group's checks. */
export interface Prepared {
  head: number
  headTime: number
  time: number
  owner: { name: string, position: number } | undefined
  known: Known
  /** the revisions of the group's streams as stored (-1: none) */
  revisions: ReadonlyMap<string, number>
}

/** The call of `prepare` in the schema whose quoted name is `s`. */
export function prepareSql (s: string): string {
  return `select * from ${s}.prepare($1::text[], $2::text[], $3::jsonb)`
}

/** Takes the lock (on `client`, in its transaction) and reads what the group's checks need. */
export async function prepare (conn: Connection, client: pg.PoolClient, sql: string, group: Request[]): Promise<Prepared> {
  const { streams, ids } = groupKeys(group)
  const conditioned = group.filter(q => q.append.condition !== undefined)
  const conditions = conditioned.map(q => {
    const c = q.append.condition!
    return { after: c.after ?? null, items: c.failIfEventsMatch.map(i => ({ ...(i.types === undefined ? {} : { types: i.types }), ...(i.tags === undefined ? {} : { tags: i.tags }) })) }
  })
  const rows = await conn.queryOn<PrepareRow>(client, sql, [streams, ids, JSON.stringify(conditions)])
  let head = -1
  let headTime = 0
  let time = 0
  let owner: { name: string, position: number } | undefined
  const revisions = new Map<string, number>(streams.map(s => [s, -1]))
  const found = new Map<string, Placed>()
  const conflicts = new Map<Request, number>()
  for (const r of rows) {
    if (r.o_kind === 0) {
      head = r.o_position!
      headTime = r.o_revision!
    } else if (r.o_kind === 5) {
      time = r.o_revision!
    } else if (r.o_kind === 1) {
      revisions.set(r.o_stream!, r.o_revision!)
    } else if (r.o_kind === 2) {
      const row = { stream: r.o_stream!, revision: r.o_revision!, id: r.o_id!, type: r.o_type!, version: r.o_version!, tags: r.o_tags, data: r.o_data!, metadata: r.o_metadata, sealed: r.o_sealed!, digest: r.o_digest }
      if (eventSum(row) !== r.o_sum) throw corruptAt(r.o_position!, 'its checksum does not match')
      found.set(row.id, { stream: row.stream, revision: row.revision, position: r.o_position!, type: row.type, data: row.data, metadata: row.metadata ?? undefined, tags: row.tags ?? undefined, digest: row.digest ?? EMPTY })
    } else if (r.o_kind === 3) {
      conflicts.set(conditioned[r.o_n!]!, r.o_position!)
    } else if (r.o_kind === 4) {
      owner = { name: r.o_stream!, position: r.o_position! }
    }
  }
  return { head, headTime, time, owner, revisions, known: { revision: s => revisions.get(s)!, ids: found, conflicts } }
}

/** The first event past `after` breaking `condition`, searched by `prepare` alone (under the lock already held). */
async function conflictAfter (conn: Connection, client: pg.PoolClient, sql: string, condition: AppendCondition, after: number): Promise<number | undefined> {
  const items = condition.failIfEventsMatch.map(i => ({ ...(i.types === undefined ? {} : { types: i.types }), ...(i.tags === undefined ? {} : { tags: i.tags }) }))
  const rows = await conn.queryOn<PrepareRow>(client, sql, [[], [], JSON.stringify([{ after, items }])])
  return rows.find(r => r.o_kind === 3)?.o_position ?? undefined
}

/**
 * The conflicts of `prepared` that a read sees: an event the rules of streams' lives hide (a
 * deleted stream's, a truncated one's, one past its retention) breaks no condition, and the
 * search goes on past it. `prepare` searches the table as it is; the rules live in this process.
 */
export async function visibleConflicts (conn: Connection, client: pg.PoolClient, sql: string, prepared: Prepared, visibility: Visibility): Promise<Map<Request, number>> {
  const conflicts = new Map(prepared.known.conflicts)
  for (const [q, found] of prepared.known.conflicts) {
    let at: number | undefined = found
    while (at !== undefined) {
      const [row] = await conn.queryOn<{ stream: string, revision: number, time: number }>(client, `select stream, revision, time from ${conn.s}.events where position = $1`, [at])
      if (row !== undefined) {
        await visibility.prepare([row.stream])
        if (visibility.visible(row.stream, Number(row.revision), at, Number(row.time))) break
      }
      at = await conflictAfter(conn, client, sql, q.append.condition!, at)
    }
    if (at === undefined) conflicts.delete(q)
    else conflicts.set(q, at)
  }
  return conflicts
}
