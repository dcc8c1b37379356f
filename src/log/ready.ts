// An event made ready for a backend: id, sealed personal fields, encoded data and metadata,
// checked for size. One place for appends and imports alike.
import { AnnalsError } from '../errors.js'
import type { ReadyEvent } from '../backend/backend.js'
import { UnencodableError, encode, encodeData } from '../storage/codec.js'
import type { PendingEvent } from './validate.js'

/** How to make one event ready. */
export interface ReadyOptions {
  id: string
  /** the schema version of its type the event is written at */
  version: number
  /** whether the id goes into the id index (see ReadyEvent.indexed) */
  indexed: boolean
  /** whether the id was generated for this append (see ReadyEvent.fresh) */
  fresh: boolean
  /**
   * the data to store when it differs from the event's (sealed personal fields), and the
   * digest of the event as given (see EventTransform.digest)
   */
  stored?: { data: unknown, digest: Buffer | undefined }
  maxEventSize: number
  /** whether the data may take the column layout (Backend.columns) */
  columns: boolean
}

/**
 * The event `e` (the `index`th of its append, for messages) of `stream`, ready to write:
 * `ANNALS_INVALID_EVENT` when its data or metadata cannot be encoded, `ANNALS_EVENT_TOO_LARGE`
 * past `maxEventSize`.
 */
export function readyEvent (stream: string, e: PendingEvent, index: number, o: ReadyOptions): ReadyEvent {
  const data = o.stored === undefined ? e.data : o.stored.data
  let bytes: Buffer
  let metadata: Buffer | undefined
  try {
    bytes = o.columns ? encodeData(data) : encode(data)
    metadata = e.metadata === undefined || isEmpty(e.metadata) ? undefined : encode(e.metadata)
  } catch (err) {
    if (!(err instanceof UnencodableError)) throw err
    throw new AnnalsError('ANNALS_INVALID_EVENT', `Event ${index} (${e.type}) cannot be stored: ${err.message}`, { cause: err })
  }
  const size = bytes.length + (metadata?.length ?? 0) + Buffer.byteLength(o.id) + Buffer.byteLength(e.type) + Buffer.byteLength(stream)
  if (size > o.maxEventSize) {
    throw new AnnalsError('ANNALS_EVENT_TOO_LARGE', `Event ${index} (${e.type}) takes ${size} bytes, over maxEventSize (${o.maxEventSize})`)
  }
  return {
    id: o.id,
    indexed: o.indexed,
    fresh: o.fresh,
    type: e.type,
    version: o.version,
    tags: e.tags,
    data: bytes,
    metadata,
    sealed: o.stored !== undefined,
    // sealed bytes differ at every write: a retry of a sealed event is compared by digest
    digest: o.indexed ? o.stored?.digest : undefined,
    value: { data, metadata: e.metadata ?? {} }
  }
}

function isEmpty (o: object): boolean {
  for (const _ in o) return false
  return true
}
