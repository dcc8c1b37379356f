// The id index: for every event, where it is and (for sealed events) a digest of its content,
// so that a retry is recognised and answered. An id that is a UUID (every id annals generates)
// is keyed by its 16 bytes; any other id by its UTF-8 text. The entries are not checksummed:
// every use of one reads the event it names, whose chunk is.
//
//   key    `U` + 16 bytes, or `I` + id (UTF-8)
//   value  varint position | varint revision | digest (the rest: 16 bytes, or none)
import { AnnalsError } from '../../errors.js'
import { Space, namedKey } from '../../storage/keys.js'
import { formatUuid, parseUuid } from '../../storage/uuid.js'
import { MalformedError, Reader, Writer } from './bytes.js'

/** Where an event is, and what it held. */
export interface IdEntry {
  position: number
  revision: number
  digest: Buffer
}

/** The key of an id's entry; `bytes` are its 16 bytes when known to be a UUID. */
export function idKey (id: string, bytes?: Buffer): Buffer {
  const uuid = bytes ?? parseUuid(id)
  if (uuid === undefined) return namedKey(Space.ids, id)
  const key = Buffer.allocUnsafe(17)
  key[0] = Space.uuids
  key.set(uuid, 1)
  return key
}

/** The id an entry's key is of. */
export function idOfKey (key: Buffer): string {
  return key[0] === Space.uuids ? formatUuid(key, 1) : key.toString('utf8', 1)
}

export function encodeIdEntry (entry: IdEntry): Buffer {
  const w = new Writer(12 + entry.digest.length)
  w.varint(entry.position)
  w.varint(entry.revision)
  w.bytes(entry.digest)
  return w.done()
}

export function decodeIdEntry (id: string, value: Buffer): IdEntry {
  try {
    const r = new Reader(value)
    const position = r.varint()
    const revision = r.varint()
    return { position, revision, digest: r.bytes(r.end - r.offset) }
  } catch (err) {
    if (err instanceof MalformedError) throw new AnnalsError('ANNALS_CORRUPT', `The id index entry of '${id}' is damaged: ${err.message}`)
    throw err
  }
}
