// Loading aggregates: the state of a stream at a point of its history, folded from the newest
// usable snapshot at or before that point (or from the initial state), with the events after
// it. Every form of `at` comes down to a revision of the stream first: a time to a position by
// binary search over the log, a position to a revision through the stream index. The answer is
// then exactly the fold of the stream's events up to that revision; snapshots only shorten it.
//
// Snapshots are written by loads, in the background, for every multiple of `snapshotEvery` a
// load folds past: appends never wait for them, and a stream nobody loads costs nothing.
//
// `evolve` folds events as records hold them: personal fields sealed (see privacy/sealed.ts),
// so that snapshots store them sealed too, and a shred forgets them there as well. The state
// is opened only on its way out of `load`. Events come upcast to their types' current versions,
// so a snapshot depends on those too: its key's fingerprint covers the aggregate's code and,
// when any event type has upcast steps, the versions and steps in force.
import { createHash } from 'node:crypto'
import { counted, databaseOf, loadChannel, snapshotChannel, traced, tracePromise, type LoadMessage, type SnapshotMessage } from '../diagnostics/channels.js'
import type { Log } from '../log/log.js'
import { withExtensions } from '../log/record.js'
import type { Aggregate } from './define.js'
import { evolve, initial } from './fold.js'
import { encodeSnapshot, keepsSnapshots } from './snapshot-codec.js'
import { snapshotKey, snapshotPrefix } from './snapshot-keys.js'
import { SnapshotStore } from './snapshot-store.js'
import type { Loaded, Target } from './target.js'

/** Opens the sealed parts of a derived value (privacy's openValue), or leaves it as it is. */
export type OpenValue = <T>(value: T) => Promise<T>

export class Aggregates {
  readonly #log: Log
  readonly #snapshots: SnapshotStore
  readonly #open: OpenValue
  /** the fingerprint each aggregate's snapshots are keyed by, and the upcasting it was made for */
  readonly #fingerprints = new WeakMap<Aggregate, { code: string, fingerprint: string }>()

  constructor (log: Log, open: OpenValue) {
    this.#log = log
    this.#snapshots = new SnapshotStore(log.storage)
    this.#open = open
  }

  /** The state of `stream` at `target` (checked), personal fields opened. */
  load<State> (aggregate: Aggregate<State>, stream: string, target: Target): Promise<Loaded<State>> {
    if (!traced(loadChannel)) return this.#load(aggregate, stream, target, undefined)
    const message: LoadMessage = counted({ database: databaseOf(this.#log.storage), aggregate: aggregate.name, stream, at: target })
    return tracePromise(loadChannel, message, async () => await this.#load(aggregate, stream, target, message))
  }

  async #load<State> (aggregate: Aggregate<State>, stream: string, target: Target, message: LoadMessage | undefined): Promise<Loaded<State>> {
    const { sealed, from, snapshot, ...loaded } = await this.#fold(aggregate, stream, await this.#revision(stream, target))
    if (message !== undefined) {
      message.revision = loaded.revision
      message.position = loaded.position
      message.folded = Math.max(0, loaded.revision - from)
      message.snapshot = snapshot
    }
    // a fold that met no sealed field has none to open: no walk through the state
    return sealed ? { ...loaded, state: await this.#open(loaded.state) } : loaded
  }

  /** Deletes every snapshot no definition of `keep` uses; resolves with how many. */
  async prune (keep: readonly Aggregate[]): Promise<number> {
    return this.#invalidated('prune', await this.#snapshots.prune(keep.map(a => ({ ...a, fingerprint: this.#fingerprint(a) }))))
  }

  /** The fingerprint of `aggregate`'s snapshots: its code's, with the upcasting in force when there is any. */
  #fingerprint (aggregate: Aggregate): string {
    const code = this.#log.upcaster.code
    if (code === '') return aggregate.fingerprint
    const known = this.#fingerprints.get(aggregate)
    if (known?.code === code) return known.fingerprint
    const fingerprint = createHash('sha256').update(`${aggregate.fingerprint}\u0000${code}`).digest('hex').slice(0, 16)
    this.#fingerprints.set(aggregate, { code, fingerprint })
    return fingerprint
  }

  /** Deletes the snapshots of streams that lost their first revisions (a scavenge); resolves with how many. */
  async scavenge (): Promise<number> {
    return this.#invalidated('scavenge', await this.#snapshots.scavenge(async stream => await this.#log.streamStart(stream)))
  }

  /** Tells `annals:snapshot` of snapshots deleted; returns how many. */
  #invalidated (reason: 'prune' | 'scavenge', count: number): number {
    if (count > 0 && snapshotChannel.hasSubscribers) {
      snapshotChannel.publish(counted<SnapshotMessage>({ action: 'invalidated', database: databaseOf(this.#log.storage), reason, count }))
    }
    return count
  }

  /** Tells `annals:snapshot` of a snapshot loaded or taken. */
  #snapshot (action: 'loaded' | 'taken', aggregate: Aggregate, stream: string, revision: number): void {
    snapshotChannel.publish(counted<SnapshotMessage>({ action, database: databaseOf(this.#log.storage), aggregate: aggregate.name, stream, revision }))
  }

  /** Resolves once the snapshots queued so far are written. */
  async settled (): Promise<void> {
    await this.#snapshots.settled()
  }

  /** Writes the snapshots queued, then writes no more. */
  async close (): Promise<void> {
    await this.#snapshots.close()
  }

  /**
   * The revision a target comes to (-1: before the stream's first event). Now is the stream's
   * last committed revision, known to the writer without a read for streams written lately:
   * a bound for the read, and for the snapshot due last.
   */
  async #revision (stream: string, target: Target): Promise<number> {
    if (target === undefined || ('revision' in target && target.revision === Infinity)) return await this.#log.revision(stream)
    if ('revision' in target) return target.revision
    const position = 'position' in target ? target.position : await this.#log.positionAt(target.time)
    return position < 0 ? -1 : await this.#log.revisionAt(stream, position)
  }

  /**
   * The fold of `stream` up to `target`; with the revision it started after (`from`: the
   * snapshot's, or the one before the first that reads) and the snapshot's revision (-1: none).
   */
  async #fold<State> (aggregate: Aggregate<State>, stream: string, target: number): Promise<Loaded<State> & { sealed: boolean, from: number, snapshot: number }> {
    // revisions below the first that reads (deleted, truncated, expired, archived) are not folded:
    // the state starts again from the initial one there. A target among them (or before the
    // stream's first event) gives the initial state at the last removed revision, the one the
    // stream's next event follows: the same before and after a scavenge, which forgets where
    // removed revisions were. Snapshots folded every revision from 0, so a stream that lost its
    // first revisions neither uses nor writes them
    const start = await this.#log.streamStart(stream)
    if (target < start) return { state: initial(aggregate, stream), revision: start - 1, position: -1, sealed: false, from: start - 1, snapshot: -1 }
    const every = start === 0 ? aggregate.snapshotEvery : undefined
    const prefix = every === undefined ? undefined : snapshotPrefix(stream, aggregate, this.#fingerprint(aggregate))
    const snapshot = prefix === undefined ? undefined : await this.#snapshots.newest(prefix, target, every!)
    let state = snapshot === undefined ? initial(aggregate, stream) : snapshot.state as State
    let revision = snapshot?.revision ?? start - 1
    let position = snapshot?.position ?? -1
    let sealed = snapshot?.sealed ?? false
    const from = revision
    if (snapshot !== undefined && snapshotChannel.hasSubscribers) this.#snapshot('loaded', aggregate, stream, snapshot.revision)
    if (revision >= target) return { state, revision, position, sealed, from, snapshot: snapshot?.revision ?? -1 }

    const chunks = this.#log.streamChunks(stream, { from: revision + 1, to: target, backwards: false, limit: Infinity }, true)
    try {
      for (let chunk = await chunks.next(); chunk.length > 0; chunk = await chunks.next()) {
        for (const event of chunk) {
          state = evolve(aggregate, stream, state, event)
          sealed ||= withExtensions.has(event)
          revision = event.revision
          position = event.position
          if (prefix !== undefined && (revision + 1) % every! === 0 && keepsSnapshots(aggregate)) {
            // encoded now: evolve may change this very object on the next event
            const bytes = encodeSnapshot(aggregate, position, state)
            const full = bytes === undefined ? undefined : this.#snapshots.add(snapshotKey(prefix, revision), bytes)
            if (bytes !== undefined && snapshotChannel.hasSubscribers) this.#snapshot('taken', aggregate, stream, revision)
            if (full !== undefined) await full
          }
        }
      }
    } finally {
      await chunks.close()
    }
    return { state, revision, position, sealed, from, snapshot: snapshot?.revision ?? -1 }
  }
}
