// What became of a commit whose connection went away before its answer came: the PostgreSQL
// writer (writer.ts) asks here before it answers any append of the batch.
import type pg from 'pg'
import { AnnalsError } from '../../errors.js'
import type { Batch } from './batch.js'
import { sqlState, storageError, type Connection } from './connection.js'

/** How long to look for the outcome of a commit whose connection was lost. */
const OUTCOME_TIMEOUT_MS = 60_000

/** Whether a failure may have come after the commit: the connection went, rather than a statement failing. */
export function uncertain (err: unknown): boolean {
  const state = sqlState(err)
  return state === undefined || state.startsWith('08') || state.startsWith('57')
}

/**
 * The connection went away while a batch was being committed: whether it was is found by
 * looking for its first event once the server process that ran it is gone (a transaction
 * commits whole or not at all). Resolves with where it was written; undefined when it was not
 * (its appends rejected with the error) or could not be told (rejected with ANNALS_STORAGE).
 */
export async function whetherWritten (conn: Connection, client: pg.ClientBase, batch: Batch, err: unknown): Promise<{ first: number, time: number } | undefined> {
  const pid = (client as unknown as { processID?: number }).processID
  const deadline = Date.now() + OUTCOME_TIMEOUT_MS
  for (let wait = 50; ; wait = Math.min(wait * 2, 2000)) {
    try {
      const running = pid === undefined ? [] : await conn.query('select 1 from pg_stat_activity where pid = $1', [pid])
      if (running.length === 0) {
        const rows = await conn.query<{ position: number, time: number }>(`select position, time from ${conn.s}.events where id = $1`, [batch.id[0]])
        if (rows.length === 0) {
          batch.fail(storageError(err))
          return undefined
        }
        return { first: rows[0]!.position, time: rows[0]!.time }
      }
    } catch {}
    if (Date.now() > deadline) {
      batch.fail(new AnnalsError('ANNALS_STORAGE', 'The connection to PostgreSQL was lost while appends were being committed, and whether they were could not be told: read them back by their ids', { cause: err }))
      return undefined
    }
    await new Promise(resolve => setTimeout(resolve, wait))
  }
}
