// The id index: for events whose id a retry may send again (ids the caller gave, and ids a
// client process generated), where the event is and a digest of its content, so that a retry
// is recognised, and its answer given, from the index alone.
//
//   key    `I` + id (UTF-8)
//   value  crc32 | varint position | varint revision | digest (the rest; 16 bytes)
import { AnnalsError } from '../../errors.js'
import { Space, namedKey } from '../../storage/keys.js'
import { MalformedError, Reader, Writer, checksumHolds } from './bytes.js'

/** Where an event with an indexed id is, and what it held. */
export interface IdEntry {
  position: number
  revision: number
  digest: Buffer
}

export function idKey (id: string): Buffer {
  return namedKey(Space.ids, id)
}

export function encodeIdEntry (entry: IdEntry): Buffer {
  const w = new Writer(40)
  w.checksumSlot()
  w.varint(entry.position)
  w.varint(entry.revision)
  w.bytes(entry.digest)
  return w.sealed()
}

export function decodeIdEntry (id: string, value: Buffer): IdEntry {
  try {
    if (!checksumHolds(value)) throw new MalformedError('its checksum does not match')
    const r = new Reader(value, 4)
    const position = r.varint()
    const revision = r.varint()
    return { position, revision, digest: r.bytes(r.end - r.offset) }
  } catch (err) {
    if (err instanceof MalformedError) throw new AnnalsError('ANNALS_CORRUPT', `The id index entry of '${id}' is damaged: ${err.message}`)
    throw err
  }
}
