// Importing a log: events written as they were in the database they came from (`annals
// import`), checked as an append checks them, then placed by the backend's importer at their
// positions, with their revisions, commit times and ids.
import { AnnalsError } from '../errors.js'
import type { LogImporter } from '../backend/backend.js'
import type { Log } from './log.js'
import { readyEvent } from './ready.js'
import type { RecordedEvent } from './types.js'
import { checkEvents, checkStream } from './validate.js'

/** An event to import: a recorded event as it was exported. */
export type ImportedEvent = Omit<RecordedEvent, 'redacted'>

/**
 * An event to import, and the data to store for it when that differs (personal fields sealed
 * again), with the digest of the event as exported (see EventTransform.digest).
 */
export interface ImportLine {
  event: ImportedEvent
  stored?: { data: unknown, digest: Buffer | undefined }
}

/**
 * Writes whole events into an empty log. Give it events in position order with {@link add};
 * {@link finish} makes them durable; on a failure, {@link abort} removes what was written.
 */
export class Importer {
  readonly #importer: LogImporter
  readonly #maxEventSize: number
  readonly #columns: boolean

  private constructor (importer: LogImporter, maxEventSize: number, columns: boolean) {
    this.#importer = importer
    this.#maxEventSize = maxEventSize
    this.#columns = columns
  }

  /** An importer into `log`, which must be empty (a `TypeError` otherwise). */
  static async start (log: Log, maxEventSize: number): Promise<Importer> {
    return new Importer(await log.backend.importer(), maxEventSize, log.backend.columns === true)
  }

  get count (): number {
    return this.#importer.count
  }

  /**
   * Checks the events and writes them in one batch. An event that is not the next of the log
   * fails the whole call with `ANNALS_INVALID_EVENT` (`ANNALS_DUPLICATE_ID` for an id already
   * used, `ANNALS_EVENT_TOO_LARGE`), naming its position, and writes nothing of the batch.
   */
  async add (lines: readonly ImportLine[]): Promise<void> {
    await this.#importer.add(lines.map(({ event: e, stored }) => {
      const at = `The event at position ${String(e.position)}`
      const stream = checked(at, () => checkStream(e.stream))
      const [pending] = checked(at, () => checkEvents([{ type: e.type, data: e.data, metadata: e.metadata, id: e.id, ...(e.tags === undefined ? {} : { tags: e.tags }) }]))
      const ready = checked(at, () => readyEvent(stream, pending!, 0, { id: pending!.id!, version: e.version, indexed: true, fresh: false, stored, maxEventSize: this.#maxEventSize, columns: this.#columns }))
      return { stream, revision: e.revision, position: e.position, time: e.time, event: ready }
    }))
  }

  async finish (): Promise<void> {
    await this.#importer.finish()
  }

  async abort (): Promise<void> {
    await this.#importer.abort()
  }
}

/** Runs a check of an append's, naming the event in its message; type errors are invalid events here. */
function checked<T> (at: string, check: () => T): T {
  try {
    return check()
  } catch (err) {
    const code = err instanceof AnnalsError ? err.code : 'ANNALS_INVALID_EVENT'
    throw new AnnalsError(code, `${at}: ${(err as Error).message}`, { cause: err })
  }
}
