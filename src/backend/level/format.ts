// The format marker of a level database: which layout its records have.
import { Space, namedKey } from '../../storage/keys.js'

/** The on-disk layout this code reads and writes. */
export const FORMAT_VERSION = 2
export const FORMAT_KEY = namedKey(Space.meta, 'format')
