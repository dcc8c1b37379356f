// Which fields of stored events are personal, and whose: reads give those fields opened (or
// null, listed in `redacted`, once their subject is shredded) and do not say which they were;
// the records do. What `annals ui` marks as sealed on the events it shows.
import { AnnalsError } from '../errors.js'
import { decodeRecord } from '../log/record.js'
import { eachSealed } from '../privacy/sealed.js'
import { logKey } from '../storage/keys.js'
import type { Annals } from '../store/annals.js'
import { internalsOf } from '../store/internals.js'

/** Dotted path of a personal field -> the data subject it belongs to. */
export type PersonalFields = Record<string, string>

/**
 * The personal fields of the events at `positions`, in their order: undefined for an event
 * without any. Shredded fields are listed too (their events list them in `redacted`).
 *
 * @example
 * ```ts
 * const events = await db.readStream('user-7', { limit: 10 }).toArray()
 * const personal = await personalFieldsOf(db, events.map(e => e.position))
 * // personal[0] = { email: 'user-7', name: 'user-7' }
 * ```
 */
export async function personalFieldsOf (db: Annals, positions: readonly number[]): Promise<Array<PersonalFields | undefined>> {
  if (positions.length === 0) return []
  const records = await internalsOf(db).log.storage.getMany(positions.map(p => logKey(p)))
  return records.map((bytes, i) => {
    const position = positions[i]!
    if (bytes === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} is missing`)
    let fields: PersonalFields | undefined
    eachSealed(decodeRecord(position, bytes).data, s => { (fields ??= {})[s.path] = s.subject })
    return fields
  })
}
