// The places where layers above the log take part in its work, without the log knowing what
// they do: a transform between events and records (crypto-shredding encrypts personal fields
// on the way in and decrypts or redacts them on the way out), and a hook on every append as it
// joins a batch (inline projections add their view writes to the append's batch; the backend
// calls it, see backend/backend.ts).
import type { RecordedEvent } from './types.js'
export type { AppendHook } from '../backend/backend.js'

/**
 * Maps events between what callers see and what records hold. Every read path goes through
 * {@link EventTransform.open}, every write through {@link EventTransform.seal}.
 */
export interface EventTransform {
  /** Whether events of this type are sealed: only those go through {@link prepare} and {@link seal}. */
  seals (type: string): boolean
  /**
   * Makes ready what {@link seal} will need for these events (for example, loads or creates
   * keys), before they are sealed. Resolves before anything of them is written; undefined when
   * all of it is ready already (then the append is sealed and handed over at once).
   */
  prepare (events: ReadonlyArray<{ stream: string, type: string, data: unknown }>): Promise<void> | undefined
  /**
   * The data to store for an event about to be recorded, with its id assigned. Synchronous:
   * whatever it needs was prepared.
   */
  seal (event: Pick<RecordedEvent, 'id' | 'type' | 'data'>): unknown
  /**
   * A digest of an event's content as the caller gave it (before sealing, which makes every
   * write's bytes differ), keyed with its subject's key: what an idempotent retry of a sealed
   * event is compared by. Once the subject is shredded nothing can be learned from it, and a
   * retry can no longer be recognised. Undefined when there is no key to make it with.
   */
  digest (event: Pick<RecordedEvent, 'type' | 'data' | 'metadata' | 'tags'>): Buffer | undefined
  /** The events as callers see them, from the events as stored; in the same order. */
  open (events: RecordedEvent[]): RecordedEvent[] | Promise<RecordedEvent[]>
}
