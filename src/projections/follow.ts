// Projections across processes. A projection (by name) runs in one process at a time: the one
// holding the lock `projection:<name>`. Every other process that registers it follows: it
// reads the view from the key spaces, and knows how far the runner got from the runner's
// notices (on the topic 'projection', after each batch it writes), or from the stored records
// when a notice names a generation it does not know. A follower asks the runner to rebuild.
import { AnnalsError } from '../errors.js'
import type { Storage } from '../storage/storage.js'
import { readRecords } from './checkpoints.js'
import { Member } from './member.js'
import type { Projected } from './projected.js'

/** The topic of runners' notices. */
export const PROGRESS_TOPIC = 'projection'

/** The lock whose holder runs the projection `name`. */
export function lockName (name: string): string {
  return `projection:${name}`
}

/** The projection a lock is of, or undefined. */
export function projectionOfLock (lock: string): string | undefined {
  return lock.startsWith('projection:') ? lock.slice('projection:'.length) : undefined
}

/** Where a runner stands: generation and next position of the active view and of one being rebuilt; its failure. */
interface Progress {
  /** the process that sent it */
  from: string
  name: string
  version: number
  active: [gen: number, next: number] | null
  building: [gen: number, next: number] | null
  failed: [message: string, position: number] | null
}

/** A follower's request that the runner rebuild. */
interface RebuildRequest {
  from: string
  name: string
  rebuild: true
}

/** This process, in notices (its own are not for it). */
const SELF = `${process.pid}-${Math.random().toString(36).slice(2)}`

/** The notice of where a runner's projection stands. */
export function progressOf (p: Projected): string {
  const r = (m: Member | undefined): [number, number] | null => m === undefined ? null : [m.record.gen, m.record.next]
  const message: Progress = {
    from: SELF,
    name: p.name,
    version: p.definition.version,
    active: r(p.active),
    building: r(p.building),
    failed: p.failure === undefined ? null : [p.failure.error.message, p.failure.position]
  }
  return JSON.stringify(message)
}

/** The notice that asks the runner of `name` to rebuild it. */
export function rebuildRequest (name: string): string {
  return JSON.stringify({ from: SELF, name, rebuild: true } satisfies RebuildRequest)
}

/** A notice of another process's, or undefined (this process's own, or not one of ours). */
export function parseNotice (message: string): Progress | RebuildRequest | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(message)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { from?: unknown }).from === SELF) return undefined
  return typeof (parsed as { name?: unknown }).name === 'string' ? parsed as Progress | RebuildRequest : undefined
}

/**
 * Takes a runner's progress into a follower's view of it. Returns false when the runner's
 * generations are not those the follower knows: then read the stored records again.
 */
export function applyProgress (p: Projected, progress: Progress): boolean {
  const known = (m: Member | undefined, r: [number, number] | null): boolean => {
    if (r === null) return m === undefined
    if (m === undefined || m.record.gen !== r[0]) return false
    if (r[1] > m.record.next) m.record = { ...m.record, next: r[1] }
    return true
  }
  const fresh = known(p.active, progress.active) && known(p.building, progress.building)
  if (progress.failed !== null) {
    const [message, position] = progress.failed
    p.failure = { error: new AnnalsError('ANNALS_PROJECTION_FAILED', message), position }
  } else if (p.failure !== undefined) {
    p.failure = undefined
  }
  p.notify()
  return fresh
}

/** Reads a follower's view of the runner from the stored records. */
export async function refreshFollower (p: Projected, storage: Storage): Promise<void> {
  const stored = await readRecords(storage, p.name)
  if (!p.following) return
  const member = (m: Member | undefined, r: typeof stored.active, building: boolean): Member | undefined => {
    if (r === undefined) return undefined
    if (m !== undefined && m.record.gen === r.gen) {
      if (r.next > m.record.next) m.record = { ...m.record, next: r.next }
      return m
    }
    return new Member(p, storage, r, building)
  }
  p.active = member(p.active, stored.active, false)
  p.building = member(p.building, stored.building, true)
  p.notify()
}

/** Why a client cannot register an inline projection. */
export function inlineUnavailable (name: string, version: number): AnnalsError {
  return new AnnalsError('ANNALS_INLINE_UNAVAILABLE', `The inline projection '${name}' (version ${version}) is not run by the process that owns the database: ` +
    'inline projections run in the owner\'s writer. Register it in the owner too (clients then read its view), or make it async')
}
