// The parts behind an open database, for the `annals` command line, which needs answers the
// public API does not give (the raw records of an export, the shredded count of `info`). Not
// exported from the package: nothing here is a contract.
import type { Log } from '../log/log.js'
import type { Privacy } from '../privacy/privacy.js'
import type { Storage } from '../storage/storage.js'
import type { Annals } from './annals.js'

/** What {@link open} composed a database from. */
export interface Internals {
  log: Log
  privacy: Privacy
  /** A consistent copy of a database in a folder (its key store too) at `dest`, made by its owner. */
  backup?: (dest: string) => Promise<void>
  /** The key spaces of a database in a folder as they are now, while appends go on; close it when done. */
  snapshot?: () => Promise<Storage & { close (): Promise<void> }>
}

const internals = new WeakMap<Annals, Internals>()

/** Records what `db` was composed from; called by `open`. */
export function setInternals (db: Annals, parts: Internals): void {
  internals.set(db, parts)
}

/** The parts of a database `open` returned. */
export function internalsOf (db: Annals): Internals {
  const parts = internals.get(db)
  if (parts === undefined) throw new TypeError('This database was not made by open()')
  return parts
}
