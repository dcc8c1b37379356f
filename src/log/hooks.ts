// The two places where layers above the log take part in its work, without the log knowing
// what they do: a transform between events and records (crypto-shredding encrypts personal
// fields on the way in and decrypts or redacts them on the way out), and a hook on every
// append as it joins a batch (inline projections add their view writes to the append's batch).
import type { WriteOp } from '../storage/storage.js'
import type { RecordedEvent } from './types.js'

/**
 * Maps events between what callers see and what records hold. Every read path goes through
 * {@link EventTransform.open}, every write through {@link EventTransform.seal}.
 */
export interface EventTransform {
  /** Whether events of this type are sealed: only those go through {@link prepare} and {@link seal}. */
  seals (type: string): boolean
  /**
   * Makes ready what {@link seal} will need for these events (for example, loads or creates
   * keys), before their batch is built. Resolves before anything of the batch is written.
   */
  prepare (events: ReadonlyArray<{ stream: string, type: string, data: unknown }>): Promise<void>
  /**
   * The data to store for an event about to be recorded, with its id, revision, position and
   * time assigned. Synchronous: whatever it needs was prepared.
   */
  seal (event: RecordedEvent): unknown
  /** The events as callers see them, from the events as stored; in the same order. */
  open (events: RecordedEvent[]): RecordedEvent[] | Promise<RecordedEvent[]>
}

/**
 * Takes part in every append as it joins a batch. The writer calls {@link AppendHook.append}
 * for each append that passed its checks, in order, with its events as they are stored (sealed
 * by the transform, as the log's raw readers return them); the
 * writes it returns join the batch with the append's records. If it throws, that append fails
 * alone with the error as `cause`, and nothing of it is written.
 */
export interface AppendHook {
  append (events: readonly RecordedEvent[]): WriteOp[] | Promise<WriteOp[]>
  /**
   * Optional: once every append of a batch has been through {@link append} and at least one
   * joined it, the writes returned join the batch too, once per batch (writes that need not be
   * repeated per append, such as a checkpoint). If it throws, the whole batch fails with that
   * error and nothing of it is written.
   */
  finish? (): WriteOp[]
  /** The batch holding the appends since the last call was written (`true`), or failed or had nothing to write (`false`). */
  settle (written: boolean): void
}
