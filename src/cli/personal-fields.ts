// Which fields of stored events are personal, and whose: reads give those fields opened (or
// null, listed in `redacted`, once their subject is shredded) and do not say which they were;
// the records do. What `annals ui` marks as sealed on the events it shows.
import { AnnalsError } from '../errors.js'
import { eachSealedAt } from '../privacy/sealed.js'
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
  const { log } = internalsOf(db)
  return await Promise.all(positions.map(async position => {
    // the event upcast, its personal fields still sealed, each naming its subject
    const chunks = log.chunks({ from: position, to: position, backwards: false, limit: 1 }, undefined, true)
    const [event] = await chunks.next().finally(async () => { await chunks.close() })
    if (event === undefined) throw new AnnalsError('ANNALS_CORRUPT', `The record at position ${position} is missing`)
    let fields: PersonalFields | undefined
    eachSealedAt(event.data, (s, path) => { (fields ??= {})[path] = s.subject })
    return fields
  }))
}
