// The diagnostics channels of annals (node:diagnostics_channel): what the database does, told to
// whoever subscribes, and to nobody otherwise. Every layer that publishes imports its channel
// from here. Each place that publishes first asks `hasSubscribers` (see `active`), so that with
// no subscriber no message is built: no object, no clock read, nothing but that test.
//
// Operations with a duration and a caller (appends, loads, shreds) are tracing channels: a
// subscriber hears `start` in the caller's own call (its async context: the place to start a
// span under the caller's), then `asyncEnd` (or `error` first) when the promise settles, with
// the same message object, filled in. Things that happen inside annals (a batch written, a read
// finished, an event handled, a snapshot taken) are plain channels, one message each.
import diagnosticsChannel, { type TracingChannel } from 'node:diagnostics_channel'
import type { AppendResult } from '../log/types.js'
import type { Storage } from '../storage/storage.js'

/**
 * The database a message is about: `id` tells apart the databases open in this process (it is
 * also `db.stats().database.id`), `location` is the folder of one opened from a path.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { BatchMessage } from 'annals'
 *
 * const mine = db.stats().database.id
 * subscribe('annals:batch', message => {
 *   const batch = message as BatchMessage
 *   if (batch.database.id === mine) console.log(`${batch.events} events in ${batch.duration.toFixed(2)} ms`)
 * })
 * ```
 */
export interface DatabaseInfo {
  readonly id: number
  readonly location: string | undefined
}

/**
 * The message of the tracing channel `annals:append` (`tracing:annals:append:start`, `:end`,
 * `:asyncStart`, `:asyncEnd`, `:error`): one per `append` or `appendMany`. At `start` it holds
 * what the call asked; by `asyncEnd` the call has settled and `duration` (ms, from the call to
 * its settling, queueing and the batch's write included) and `result` or `error` and
 * `errorCode` (an `AnnalsError`'s code, such as `ANNALS_WRONG_EXPECTED_REVISION`) are set.
 *
 * @example
 * ```ts
 * import { tracingChannel } from 'node:diagnostics_channel'
 * import type { AppendMessage } from 'annals'
 *
 * tracingChannel<unknown, AppendMessage>('annals:append').subscribe({
 *   start () {},
 *   end () {},
 *   asyncStart () {},
 *   asyncEnd (m) { console.log(m.operation, m.streams, m.events, m.duration, m.errorCode ?? 'ok') },
 *   error () {}
 * })
 * ```
 */
export interface AppendMessage {
  database: DatabaseInfo
  operation: 'append' | 'appendMany'
  /** the stream of each part, in order (one for `append`) */
  streams: string[]
  /** events in the append, every part counted */
  events: number
  /** whether the append is made durable (fsync) before it resolves: its own `sync`, or the database's */
  sync: boolean
  /** whether it carried a condition (`failIfEventsMatch`) */
  condition: boolean
  /** ms from the call to its settling; set when it settles */
  duration?: number
  /** what it resolved with: one result, or one per part for `appendMany` */
  result?: AppendResult | AppendResult[]
  /** what it rejected with */
  error?: unknown
  /** the `code` of the error, when it is an `AnnalsError` */
  errorCode?: string
}

/**
 * The message of the channel `annals:batch`: one per batch the writer committed (group commit:
 * whatever appends were waiting, written together), published once it is written or failed.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { BatchMessage } from 'annals'
 *
 * subscribe('annals:batch', m => {
 *   const b = m as BatchMessage
 *   console.log(`${b.appends} appends, ${b.events} events, ${b.bytes} bytes, ${b.duration.toFixed(2)} ms, ${b.queued} events waiting`)
 * })
 * ```
 */
export interface BatchMessage {
  database: DatabaseInfo
  /** appends the batch took from the queue (those that failed their checks included) */
  appends: number
  /** appends it wrote (passed their checks) */
  written: number
  /** events it wrote */
  events: number
  /** bytes of the batch's writes (keys and values: records, indexes, inline views) */
  bytes: number
  /** whether the write asked for fsync */
  sync: boolean
  /** ms from taking the batch off the queue to the end of its write */
  duration: number
  /** events still waiting in the queue when it was written */
  queued: number
  /** the positions written, first and last; -1 and -1 when it wrote none */
  first: number
  last: number
  /** when the write failed: the error and its code (each of its appends failed with it) */
  error?: unknown
  errorCode?: string
}

/**
 * The message of the channel `annals:read`: one per read, published when it ends (read to its
 * end or limit, closed early, or failed): `readStream`, `readAll` and `read`.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { ReadMessage } from 'annals'
 *
 * subscribe('annals:read', m => {
 *   const r = m as ReadMessage
 *   console.log(r.operation, r.stream ?? '', r.events, 'events in', r.duration.toFixed(2), 'ms')
 * })
 * ```
 */
export interface ReadMessage {
  database: DatabaseInfo
  operation: 'readStream' | 'readAll' | 'read'
  /** the stream read, for `readStream` */
  stream: string | undefined
  /** the options the read was given (its bounds and filter: `types`, `tags`, `streams`, `query`) */
  options: unknown
  /** events handed out */
  events: number
  /** ms from the first `next()` to the end */
  duration: number
  error?: unknown
  errorCode?: string
}

/**
 * The message of the tracing channel `annals:load` (`tracing:annals:load:start` … `:asyncEnd`,
 * `:error`): one per `db.load`. By `asyncEnd`, the revision and position loaded, the events
 * folded, and the revision of the snapshot it started from (-1: none) are set.
 *
 * @example
 * ```ts
 * import { tracingChannel } from 'node:diagnostics_channel'
 * import type { LoadMessage } from 'annals'
 *
 * tracingChannel<unknown, LoadMessage>('annals:load').subscribe({
 *   start () {}, end () {}, asyncStart () {}, error () {},
 *   asyncEnd (m) { console.log(`${m.aggregate} ${m.stream}: ${m.folded} events folded after snapshot ${m.snapshot}`) }
 * })
 * ```
 */
export interface LoadMessage {
  database: DatabaseInfo
  aggregate: string
  stream: string
  /** the `at` asked for, normalised (a time as ms since the epoch); undefined: now */
  at: { revision: number } | { position: number } | { time: number } | undefined
  duration?: number
  revision?: number
  position?: number
  /** events folded onto the snapshot (or the initial state) */
  folded?: number
  /** the revision of the snapshot the load started from; -1 when none */
  snapshot?: number
  error?: unknown
  errorCode?: string
}

/**
 * The message of the tracing channel `annals:shred`: one per `db.shred`. It counts the subjects
 * and never names them: their ids are personal data, and traces are kept.
 *
 * @example
 * ```ts
 * import { tracingChannel } from 'node:diagnostics_channel'
 * import type { ShredMessage } from 'annals'
 *
 * tracingChannel<unknown, ShredMessage>('annals:shred').subscribe({
 *   start () {}, end () {}, asyncStart () {}, error () {},
 *   asyncEnd (m) { console.log(`${m.subjects} subjects shredded in ${m.duration} ms`) }
 * })
 * ```
 */
export interface ShredMessage {
  database: DatabaseInfo
  subjects: number
  duration?: number
  error?: unknown
  errorCode?: string
}

/**
 * The message of the channel `annals:snapshot`: a load started from a snapshot (`loaded`), a
 * load queued a new one to be written (`taken`), or snapshots were deleted because no load can
 * use them any more (`invalidated`: by `pruneSnapshots`, or by a scavenge for streams that lost
 * their first events).
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { SnapshotMessage } from 'annals'
 *
 * subscribe('annals:snapshot', m => {
 *   const s = m as SnapshotMessage
 *   if (s.action === 'invalidated') console.log(`${s.count} snapshots deleted by ${s.reason}`)
 *   else console.log(s.action, s.aggregate, s.stream, s.revision)
 * })
 * ```
 */
export type SnapshotMessage =
  | { action: 'loaded' | 'taken', database: DatabaseInfo, aggregate: string, stream: string, revision: number }
  | { action: 'invalidated', database: DatabaseInfo, reason: 'prune' | 'scavenge', count: number }

/**
 * The message of the channel `annals:subscription`: a subscription's handler handled an event
 * (`handled`: its position, how long the handler took, and the lag: positions committed past
 * it), or threw and stopped the subscription (`failed`). `subscription` is the durable name,
 * undefined for others.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { SubscriptionMessage } from 'annals'
 *
 * subscribe('annals:subscription', m => {
 *   const s = m as SubscriptionMessage
 *   if (s.kind === 'failed') console.error(s.subscription, 'stopped at', s.position, s.errorCode)
 * })
 * ```
 */
export type SubscriptionMessage =
  | { kind: 'handled', database: DatabaseInfo, subscription: string | undefined, position: number, type: string, lag: number, duration: number }
  | { kind: 'failed', database: DatabaseInfo, subscription: string | undefined, position: number, error: unknown, errorCode: string | undefined }

/**
 * The message of the channel `annals:projection`: a projection handled a batch of events and
 * wrote it with its checkpoint (`batch`: the positions it moved over, its position and lag after,
 * how long handling and writing took), or stopped on a failure (`failed`). Async projections
 * report each chunk a train handled (up to 1,024 events); inline ones each append batch.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import type { ProjectionMessage } from 'annals'
 *
 * subscribe('annals:projection', m => {
 *   const p = m as ProjectionMessage
 *   if (p.kind === 'batch') console.log(`${p.projection}: ${p.events} events, lag ${p.lag}`)
 * })
 * ```
 */
export type ProjectionMessage =
  | { kind: 'batch', database: DatabaseInfo, projection: string, mode: 'async' | 'inline', rebuilding: boolean, events: number, position: number, lag: number, duration: number }
  | { kind: 'failed', database: DatabaseInfo, projection: string, position: number, error: unknown, errorCode: string | undefined }

/** The channels' names. */
export const CHANNELS = {
  append: 'annals:append',
  batch: 'annals:batch',
  read: 'annals:read',
  load: 'annals:load',
  shred: 'annals:shred',
  snapshot: 'annals:snapshot',
  subscription: 'annals:subscription',
  projection: 'annals:projection'
} as const

export const appendChannel: TracingChannel<unknown, AppendMessage> = diagnosticsChannel.tracingChannel(CHANNELS.append)
export const loadChannel: TracingChannel<unknown, LoadMessage> = diagnosticsChannel.tracingChannel(CHANNELS.load)
export const shredChannel: TracingChannel<unknown, ShredMessage> = diagnosticsChannel.tracingChannel(CHANNELS.shred)
export const batchChannel = diagnosticsChannel.channel(CHANNELS.batch)
export const readChannel = diagnosticsChannel.channel(CHANNELS.read)
export const snapshotChannel = diagnosticsChannel.channel(CHANNELS.snapshot)
export const subscriptionChannel = diagnosticsChannel.channel(CHANNELS.subscription)
export const projectionChannel = diagnosticsChannel.channel(CHANNELS.projection)

/**
 * Whether the append path publishes at all: true but in the benchmarks, which turn it off to
 * measure appends with publishing bypassed beside the same appends with the channels in place
 * and nobody subscribed (bench/diagnostics.ts). Not part of the API.
 */
export let publishing = true

/** Turns {@link publishing} on or off (the benchmarks' reference only). */
export function setPublishing (on: boolean): void {
  publishing = on
}

/**
 * Whether anyone listens to a tracing channel. (`TracingChannel.hasSubscribers` is Node 20.13's;
 * its five channels are asked on older ones.)
 */
export function traced (channel: TracingChannel<unknown, object>): boolean {
  return channel.hasSubscribers ?? (channel.start.hasSubscribers || channel.end.hasSubscribers ||
    channel.asyncStart.hasSubscribers || channel.asyncEnd.hasSubscribers || channel.error.hasSubscribers)
}

let built = 0

/** How many messages were built since the process started: none while nobody subscribes (tests check it). */
export function messagesBuilt (): number {
  return built
}

/** Counts a message built; returns it. Every message goes through here. */
export function counted<T> (message: T): T {
  built++
  return message
}

// --- which database: the info is kept by the storage object every layer holds

const databases = new WeakMap<object, DatabaseInfo>()
let nextId = 1

/** Makes the info of a database opened on `storage`; the layers find it again by {@link databaseOf}. */
export function describeDatabase (storage: Storage, location: string | undefined): DatabaseInfo {
  const info = Object.freeze({ id: nextId++, location })
  databases.set(storage, info)
  return info
}

/** Storage objects below the one a database was described by (its owner's, under the backend that switches between owners). */
const below = new WeakMap<object, object>()

/**
 * Says that `inner` is storage of the database described by `outer`'s storage (the owner's own,
 * under the backend that switches): messages its writer publishes name that database.
 */
export function sameDatabase (inner: Storage, outer: Storage): void {
  below.set(inner, outer)
}

const UNKNOWN: DatabaseInfo = Object.freeze({ id: 0, location: undefined })

/** The info of the database whose storage this is. */
export function databaseOf (storage: Storage): DatabaseInfo {
  const outer = below.get(storage)
  return databases.get(storage) ?? (outer === undefined ? undefined : databases.get(outer)) ?? UNKNOWN
}

/** The `code` of an `AnnalsError` (or of any error with a string code). */
export function codeOf (err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

/**
 * Runs `fn` under a tracing channel with `message`: `duration` (and `errorCode`) are set on it
 * before the channel's `asyncEnd` (and `error`) are published; the channel sets `result` (or
 * `error`) itself.
 */
export function tracePromise<M extends { duration?: number, errorCode?: string }, R> (channel: TracingChannel<unknown, M>, message: M, fn: () => Promise<R>): Promise<R> {
  const started = performance.now()
  return channel.tracePromise(async () => {
    try {
      const result = await fn()
      message.duration = performance.now() - started
      return result
    } catch (err) {
      message.duration = performance.now() - started
      message.errorCode = codeOf(err)
      throw err
    }
  }, message)
}
