// Changes to streams' lives as every backend makes them: checked against the rules in force and
// the stream's revision, written as a new rule (rules.ts) with the system event that records it
// in `$streams`, in the batch of that event. An import rebuilds the rules from those events.
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import type { WriteOp } from '../storage/storage.js'
import { formatUuid, newUuidV7Bytes } from '../storage/uuid.js'
import { checkExpected } from './append-checks.js'
import type { LifecycleChange, ReadyEvent, StreamRule } from './backend.js'
import type { Rules } from './rules.js'

/**
 * Checks a change to a stream's life and puts its writes into `ops`; the new rule is in
 * `rulesNow` for the appends after it in the same batch. Returns what to do once written, and
 * the system event that records it.
 */
export function lifecycleChange (rules: Rules, change: LifecycleChange, ops: WriteOp[], rulesNow: Map<string, StreamRule>, revisionOf: (stream: string) => number): { apply: () => void, event: ReadyEvent } {
  if (change.kind === 'archive') return { apply: rules.stageArchive(ops, change.before), event: systemEvent('$LogArchived', { before: change.before }) }
  if (change.kind === 'category-retention') {
    return { apply: rules.stageCategory(ops, change.prefix, change.retention), event: systemEvent('$StreamMetadataSet', { prefix: change.prefix, ...change.retention }) }
  }
  const stream = change.stream
  const before = rulesNow.get(stream) ?? rules.stream(stream) ?? { truncateBefore: 0, tombstoned: false }
  if (before.tombstoned && !(change.kind === 'tombstone')) throw streamDeleted(stream)
  const current = revisionOf(stream)
  let rule: StreamRule
  let event: ReadyEvent
  switch (change.kind) {
    case 'delete':
      checkExpected(stream, change.expected, current)
      rule = { ...before, truncateBefore: Math.max(before.truncateBefore, current + 1) }
      event = systemEvent('$StreamDeleted', { stream, before: rule.truncateBefore })
      break
    case 'tombstone':
      checkExpected(stream, change.expected, current)
      rule = { ...before, truncateBefore: Math.max(before.truncateBefore, current + 1), tombstoned: true }
      event = systemEvent('$StreamTombstoned', { stream, before: rule.truncateBefore })
      break
    case 'truncate':
      rule = { ...before, truncateBefore: Math.max(before.truncateBefore, change.before) }
      event = systemEvent('$StreamTruncated', { stream, before: rule.truncateBefore })
      break
    case 'retention': {
      const { maxCount: _, maxAge: __, ...rest } = before
      rule = { ...rest, ...change.retention }
      event = systemEvent('$StreamMetadataSet', { stream, ...change.retention })
      break
    }
  }
  rulesNow.set(stream, rule)
  return { apply: rules.stageStream(ops, stream, rule), event }
}

/** A system event recording a change to streams' lives, made by the writer itself. */
export function systemEvent (type: string, data: Record<string, unknown>): ReadyEvent {
  const idBytes = Buffer.from(newUuidV7Bytes())
  return { id: formatUuid(idBytes), idBytes, indexed: true, fresh: true, type, version: 1, tags: undefined, data: encode(data), metadata: undefined, sealed: false, digest: undefined }
}

/** ANNALS_STREAM_DELETED: an append to (or a change of) a tombstoned stream. */
export function streamDeleted (stream: string): AnnalsError {
  return new AnnalsError('ANNALS_STREAM_DELETED', `Stream '${stream}' was tombstoned: it can never be written again`, { details: { stream } })
}

/** What an imported system event of `$streams` changes in the rules, staged into `ops` (undefined: nothing). */
export function lifecycleOf (event: ReadyEvent): ((ops: WriteOp[], rules: Rules) => () => void) | undefined {
  let data: Record<string, unknown>
  try {
    data = decode(event.data) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (typeof data !== 'object' || data === null) return undefined
  const stream = data.stream
  const before = typeof data.before === 'number' ? data.before : 0
  const retention = { ...(typeof data.maxCount === 'number' ? { maxCount: data.maxCount } : {}), ...(typeof data.maxAge === 'number' ? { maxAge: data.maxAge } : {}) }
  const has = Object.keys(retention).length > 0
  switch (event.type) {
    case '$StreamDeleted':
    case '$StreamTruncated':
    case '$StreamTombstoned':
      if (typeof stream !== 'string') return undefined
      return (ops, rules) => {
        const rule = rules.stream(stream) ?? { truncateBefore: 0, tombstoned: false }
        return rules.stageStream(ops, stream, { ...rule, truncateBefore: Math.max(rule.truncateBefore, before), tombstoned: rule.tombstoned || event.type === '$StreamTombstoned' })
      }
    case '$StreamMetadataSet':
      if (typeof data.prefix === 'string') return (ops, rules) => rules.stageCategory(ops, data.prefix as string, has ? retention : undefined)
      if (typeof stream !== 'string') return undefined
      return (ops, rules) => {
        const { maxCount: _, maxAge: __, ...rest } = rules.stream(stream) ?? { truncateBefore: 0, tombstoned: false }
        return rules.stageStream(ops, stream, { ...rest, ...retention })
      }
    case '$LogArchived':
      return (ops, rules) => rules.stageArchive(ops, before)
  }
  return undefined
}
