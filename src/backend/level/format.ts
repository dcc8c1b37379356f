// The format marker of a level database: which layout its records have.
import { Space, namedKey } from '../../storage/keys.js'

/**
 * The on-disk layout this code reads and writes. 3: events' data may be in the column layout
 * (storage/columns.ts).
 */
export const FORMAT_VERSION = 3

/**
 * The older layouts this code opens, and marks as {@link FORMAT_VERSION} at open: format 2 is
 * format 3 with every event's data a MessagePack map, which format 3 reads as it is. An annals
 * of format 2 then refuses the database (ANNALS_UNSUPPORTED_FORMAT) rather than misread it.
 */
export const UPGRADES_FROM: readonly number[] = [2]

export const FORMAT_KEY = namedKey(Space.meta, 'format')
