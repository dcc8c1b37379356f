// The registry of a database's projections: registers them (resuming, or rebuilding when the
// definition changed), runs their trains and the append hook, rebuilds and swaps, deletes old
// generations, and stops it all on close.
//
// An inline projection is caught up by a train like an async one, then handed over to the
// append hook once it is within one chunk of the head; the hook takes it at the start of the
// next batch, after handling what it missed. If no batch comes, it goes back to a train.
import { AnnalsError } from '../errors.js'
import type { Log } from '../log/log.js'
import type { Storage, WriteOp } from '../storage/storage.js'
import { warnChanged } from './changed.js'
import type { Lock } from '../backend/backend.js'
import { Generations, encodeRecord, readRecords, sameBuild, type GenerationRecord } from './checkpoints.js'
import type { ProjectionDefinition } from './definition.js'
import {
  PROGRESS_TOPIC, applyProgress, inlineUnavailable, lockName, parseNotice, progressOf, projectionOfLock, rebuildRequest, refreshFollower
} from './follow.js'
import { collectGarbage } from './garbage.js'
import { InlineHook, type HookHost } from './inline-hook.js'
import { garbageKey, recordKey } from './keys.js'
import { Member } from './member.js'
import { Projected } from './projected.js'
import { Train, type Failure, type TrainHost } from './train.js'

/** An inline projection joins the append path once at most this many events behind. */
const HAND_OVER_LAG = 1024
const EMPTY = Buffer.alloc(0)
/** The longest delay a timer takes (a longer one would fire at once). */
const MAX_TIMER = 2 ** 31 - 1

export class Projections implements TrainHost, HookHost {
  readonly log: Log
  readonly #storage: Storage
  readonly #hook: InlineHook
  #hookSet = false
  readonly #generations: Generations
  #started = false
  #stopNotices: Array<() => void> = []
  /** projections this process runs whose progress is to be announced */
  readonly #progressed = new Set<Projected>()
  #announcing = false
  readonly #registering = new Map<string, { definition: ProjectionDefinition, done: Promise<Projected> }>()
  readonly #registered = new Map<string, Projected>()
  readonly #rebuilds = new Map<Projected, Promise<unknown>>()
  readonly #trains = new Set<Train>()
  /** members waiting for the hook, with the hook's batch count when last looked at */
  readonly #ready = new Map<Member, number>()
  #checking = false
  #stopCommits: (() => void) | undefined
  #gc: Promise<void> | undefined
  #gcAgain = false
  #closed = false

  constructor (log: Log) {
    this.log = log
    this.#storage = log.storage
    this.#hook = new InlineHook(this)
    this.#generations = new Generations(this.#storage, log.backend)
  }

  /** How many projections are registered (or being registered). */
  get size (): number {
    return this.#registering.size
  }

  /** The projections registered. */
  registered (): IterableIterator<Projected> {
    return this.#registered.values()
  }

  /**
   * Registers a projection: resumes its view from its checkpoint, or rebuilds it beside the
   * stored one when the definition changed. Async ones resolve at once; inline ones once current.
   */
  async register (definition: ProjectionDefinition): Promise<Projected> {
    if (this.#closed) throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    const name = definition.name
    const known = this.#registering.get(name)
    if (known !== undefined) {
      if (known.definition.fingerprint === definition.fingerprint && known.definition.mode === definition.mode) return await known.done
      throw new AnnalsError('ANNALS_ALREADY_PROJECTED', `A projection named '${name}' is already registered, with another definition`)
    }
    const p = new Projected(definition, this.log)
    const done = this.#register(p)
    this.#registering.set(name, { definition, done })
    return await done
  }

  async #register (p: Projected): Promise<Projected> {
    try {
      // known from the start, so that close stops (or abandons) what it starts
      this.#registered.set(p.name, p)
      this.#open()
      await this.#claim(p)
      if (p.definition.mode === 'inline' && !p.following) await p.caughtUp()
      return p
    } catch (err) {
      for (const m of [p.active, p.building]) if (m !== undefined) this.#stop(m)
      const lock = p.lock
      p.lock = undefined
      await lock?.release().catch(() => {})
      this.#registered.delete(p.name)
      this.#registering.delete(p.name)
      this.#updateHook()
      throw err
    }
  }

  /**
   * Runs the projection if no process does (taking its lock), else follows the one that does.
   * Inline projections run in the owner's writer: a client follows the owner's, if it runs it.
   */
  async #claim (p: Projected): Promise<void> {
    const backend = this.log.backend
    const def = p.definition
    if (def.mode === 'inline' && backend.role === 'client') {
      const probe = await backend.tryLock(lockName(p.name))
      if (probe !== undefined) {
        await probe.release()
        throw inlineUnavailable(p.name, def.version)
      }
      const stored = await readRecords(this.#storage, p.name)
      if ((stored.building ?? stored.active)?.version !== def.version) throw inlineUnavailable(p.name, def.version)
      p.following = true
      await refreshFollower(p, this.#storage)
      return
    }
    const lock = await backend.tryLock(lockName(p.name))
    if (this.#closed) {
      await lock?.release()
      throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    }
    if (lock === undefined) {
      p.following = true
      await refreshFollower(p, this.#storage)
      return
    }
    await this.#lead(p, lock)
  }

  /** Runs the projection under `lock`, from its stored records. */
  async #lead (p: Projected, lock: Lock): Promise<void> {
    p.lock = lock
    p.following = false
    void lock.lost.then(async () => { await this.#lost(p, lock) })
    await this.#load(p)
    this.#announce(p)
  }

  /** The lock is gone with the process that kept it: stop, write nothing more, follow or take it again. */
  async #lost (p: Projected, lock: Lock): Promise<void> {
    if (p.lock !== lock) return
    p.lock = undefined
    p.following = true
    const old = [p.active, p.building].filter(m => m !== undefined)
    for (const m of old) this.#stop(m)
    this.#updateHook()
    await Promise.all(old.map(async m => { await m.quiet() }))
    await this.#retake(p)
  }

  /** A follower's chance to run the projection: its runner may have gone. */
  async #retake (p: Projected): Promise<void> {
    if (this.#closed || !p.following || this.#registered.get(p.name) !== p) return
    const backend = this.log.backend
    try {
      if (p.definition.mode === 'inline' && backend.role === 'client') {
        // the new owner may not run it: say so, until its notices say otherwise
        const probe = await backend.tryLock(lockName(p.name))
        if (probe !== undefined) {
          await probe.release()
          p.failure = { error: inlineUnavailable(p.name, p.definition.version), position: p.active?.record.next ?? 0 }
          p.notify()
        }
        return
      }
      const lock = await backend.tryLock(lockName(p.name))
      if (lock === undefined) {
        await refreshFollower(p, this.#storage)
        return
      }
      if (this.#closed || !p.following || this.#registered.get(p.name) !== p) {
        await lock.release()
        return
      }
      p.failure = undefined
      await this.#lead(p, lock)
    } catch (err) {
      // the database closed, or its owner went away again: the next chance comes with a notice
      if (!(err instanceof AnnalsError) || (err.code !== 'ANNALS_NOT_OPEN' && err.code !== 'ANNALS_OWNER_LOST')) {
        p.failure = { error: err instanceof AnnalsError ? err : new AnnalsError('ANNALS_STORAGE', String(err), { cause: err }), position: p.active?.record.next ?? 0 }
        p.notify()
      }
    }
  }

  async #load (p: Projected): Promise<void> {
    const def = p.definition
    const generations = this.#generations
    // the events it receives come upcast: a view built with other versions of their types is rebuilt
    const versions = this.log.upcaster.versions
    const stored = await readRecords(this.#storage, p.name)
    const ops: WriteOp[] = []
    const fresh = async (): Promise<GenerationRecord> => {
      const gen = await generations.take()
      return { gen, version: def.version, fingerprint: def.fingerprint, history: def.history, versions, next: 0 }
    }
    // a generation kept for this definition goes on with its handler, whose fingerprint its next
    // checkpoint records; if that is not the stored one, say so (once)
    const keep = (r: GenerationRecord): GenerationRecord => {
      if (r.fingerprint === def.fingerprint) return r
      warnChanged(def, r.fingerprint)
      return { ...r, fingerprint: def.fingerprint }
    }
    let active = stored.active
    let building = stored.building !== undefined && sameBuild(stored.building, def, versions) ? keep(stored.building) : undefined
    if (active === undefined) {
      active = await fresh()
      building = undefined
      ops.push({ key: recordKey(p.name, false), value: encodeRecord(active) })
    } else if (!sameBuild(active, def, versions)) {
      // a new version: build its view beside the stored one, which serves reads meanwhile
      if (building === undefined) {
        building = await fresh()
        ops.push({ key: recordKey(p.name, true), value: encodeRecord(building) })
      }
    } else {
      active = keep(active)
    }
    if (stored.building !== undefined && building?.gen !== stored.building.gen) {
      ops.push({ key: recordKey(p.name, true) }, { key: garbageKey(stored.building.gen), value: EMPTY })
    }
    if (ops.length > 0) await this.#storage.write(ops, false)
    p.active = new Member(p, this.#storage, active, false)
    if (building !== undefined) p.building = new Member(p, this.#storage, building, true)
    if (def.mode === 'inline') this.#updateHook(true)
    this.#start(p.building ?? p.active)
    if (stored.building !== undefined && building?.gen !== stored.building.gen) this.#collect()
  }

  /**
   * Rebuilds a projection from the start of the log into a new generation. The current view
   * serves reads until the new one is caught up and swapped in. Resolves once the rebuilt view
   * is swapped in and current.
   */
  async rebuild (p: Projected): Promise<void> {
    if (p.following) {
      // another process runs it: ask it, and wait for the rebuilt view to be swapped in
      const gen = p.active?.record.gen
      await this.log.backend.notify(PROGRESS_TOPIC, rebuildRequest(p.name))
      await p.waitFor(() => p.active !== undefined && p.active.record.gen !== gen && p.building === undefined)
      await p.caughtUp()
      return
    }
    const start = (this.#rebuilds.get(p) ?? Promise.resolve()).then(async () => { await this.#restart(p) })
    this.#rebuilds.set(p, start.catch(() => {}))
    await start
    await p.caughtUp()
  }

  async #restart (p: Projected): Promise<void> {
    if (this.#closed) throw new AnnalsError('ANNALS_NOT_OPEN', 'The database is closed')
    const old = [p.active, p.building].filter(m => m !== undefined)
    for (const m of old) this.#stop(m)
    await Promise.all(old.map(async m => { await m.quiet() }))
    const gen = await this.#generations.take()
    const def = p.definition
    const record: GenerationRecord = { gen, version: def.version, fingerprint: def.fingerprint, history: def.history, versions: this.log.upcaster.versions, next: 0 }
    // the new generation is built beside the active one; one being built before is dropped
    const ops: WriteOp[] = [{ key: recordKey(p.name, true), value: encodeRecord(record) }]
    if (p.building !== undefined) ops.push({ key: garbageKey(p.building.record.gen), value: EMPTY })
    await this.#storage.write(ops, false)
    const m = new Member(p, this.#storage, record, true)
    p.building = m
    p.failure = undefined
    this.#start(m)
    this.#collect()
    this.#announce(p)
  }

  /**
   * After `ms`, abandons every handler still running (see {@link Member.abandon}) and stops every
   * member, so that neither trains nor the appends still queued wait for a handler that does not
   * settle. For close: returns the function that cancels it, once everything has finished.
   */
  abandonAfter (ms: number): () => void {
    if (ms > MAX_TIMER) return () => {} // Infinity, or too long for a timer: wait for ever
    const timer = setTimeout(() => { this.#abandon(ms) }, ms)
    return () => { clearTimeout(timer) }
  }

  #abandon (after: number): void {
    const abandoned: AnnalsError[] = []
    for (const p of this.#registered.values()) {
      for (const m of [p.active, p.building]) {
        const error = m?.abandon(after)
        if (error !== undefined) abandoned.push(error)
      }
    }
    for (const t of this.#trains) t.stop()
    if (abandoned.length === 0) return
    process.emitWarning(`${abandoned.map(e => e.message).join('; ')}. What waited for it failed with ANNALS_HANDLER_ABANDONED; ` +
      'nothing of it was written, and the projection resumes at its checkpoint next time.', { type: 'AnnalsWarning', code: 'ANNALS_HANDLER_ABANDONED' })
  }

  /** Stops the trains and the deleting of old generations; the hook stays for queued appends. */
  async stop (): Promise<void> {
    this.#closed = true
    this.#stopCommits?.()
    for (const stop of this.#stopNotices) stop()
    for (const t of this.#trains) t.stop()
    await Promise.all([...this.#trains].map(async t => { await t.done }))
    await this.#gc
    for (const p of this.#registered.values()) p.close()
  }

  /**
   * Leaves the append path, and writes the checkpoints that inline projections let lag behind
   * (batches that changed nothing in their views); call once the log has written every queued
   * append.
   */
  async detach (): Promise<void> {
    if (this.#hookSet) this.log.setHook(undefined)
    this.#hookSet = false
    const behind: Member[] = []
    for (const p of this.#registered.values()) {
      const m = p.active
      if (m !== undefined && m.owner === 'hook' && m.stored < m.record.next) behind.push(m)
    }
    try {
      if (behind.length === 0) return
      await this.#storage.write(behind.map(m => m.checkpoint(m.record.next)), false)
      for (const m of behind) m.stored = m.record.next
    } finally {
      // what it ran, others may run now
      await Promise.all([...this.#registered.values()].map(async p => {
        const lock = p.lock
        p.lock = undefined
        await lock?.release().catch(() => {})
      }))
    }
  }

  // --- for trains and the hook

  swap (member: Member, next: number, ops: WriteOp[]): void {
    const p = member.projected
    ops.push({ key: recordKey(p.name, true) }, { key: recordKey(p.name, false), value: encodeRecord({ ...member.record, next }) })
    if (p.active !== undefined) ops.push({ key: garbageKey(p.active.record.gen), value: EMPTY })
  }

  written (members: Member[], swapped: Member[], failures: Failure[]): void {
    for (const f of failures) f.member.projected.fail(f.member, f.position, f.error)
    for (const m of swapped) {
      const p = m.projected
      if (p.active !== undefined) p.active.owner = 'stopped'
      m.building = false
      p.active = m
      p.building = undefined
    }
    if (swapped.length > 0) this.#collect()
    this.#handOver(members)
    this.settled(members)
  }

  idle (train: Train): void {
    this.#handOver(train.members)
    for (const other of this.#trains) {
      if (other !== train && other.idle && other.next === train.next) train.absorb(other)
    }
  }

  ended (train: Train): void {
    this.#trains.delete(train)
  }

  takeReady (): Member[] {
    const ready = [...this.#ready.keys()]
    this.#ready.clear()
    return ready
  }

  settled (members: Member[]): void {
    for (const p of new Set(members.map(m => m.projected))) {
      p.notify()
      this.#announce(p)
    }
  }

  /** Soon, tells the processes that follow `p` where it stands (once per turn of the event loop). */
  #announce (p: Projected): void {
    if (p.following || p.lock === undefined) return
    this.#progressed.add(p)
    if (this.#announcing) return
    this.#announcing = true
    setImmediate(() => {
      this.#announcing = false
      const backend = this.log.backend
      for (const q of this.#progressed) {
        if (q.following || q.lock === undefined) continue
        backend.notify(PROGRESS_TOPIC, progressOf(q)).catch(() => {})
      }
      this.#progressed.clear()
    })
  }

  /** A notice of another process: a runner's progress, or a follower asking for a rebuild. */
  readonly #onProgress = (message: string): void => {
    const notice = parseNotice(message)
    const p = notice === undefined ? undefined : this.#registered.get(notice.name)
    if (notice === undefined || p === undefined) return
    if ('rebuild' in notice) {
      if (!p.following) this.rebuild(p).catch(() => {})
      return
    }
    if (!p.following) return
    if (!applyProgress(p, notice)) refreshFollower(p, this.#storage).catch(() => {})
  }

  /** A lock was freed: a projection this process follows may be its to run now. */
  readonly #onFreed = (lock: string): void => {
    const name = projectionOfLock(lock)
    const p = name === undefined ? undefined : this.#registered.get(name)
    if (p?.following === true) void this.#retake(p)
  }

  // ---

  /** Starts the registry on first use: commit wake-ups, other processes' notices, leftover deletes. */
  #open (): void {
    if (this.#started) return
    this.#started = true
    this.#stopCommits = this.log.onCommit(this.#onCommit)
    const backend = this.log.backend
    this.#stopNotices = [backend.onNotice(PROGRESS_TOPIC, this.#onProgress), backend.onNotice('lock-freed', this.#onFreed)]
    this.#collect()
  }

  readonly #onCommit = (): void => {
    for (const t of this.#trains) if (t.idle) t.wake()
    if (this.#ready.size > 0) this.#checkReady()
  }

  /** Puts a member in a train: an idle one at its position, or a new one. */
  #start (m: Member): void {
    if (this.#closed) return
    for (const t of this.#trains) {
      if (t.idle && t.next === m.record.next) {
        t.add([m])
        return
      }
    }
    this.#trains.add(new Train(this, [m], m.record.next))
  }

  /** Inline members near enough the head wait for the hook to take them. */
  #handOver (members: readonly Member[]): void {
    for (const m of members) {
      if (m.owner === 'train' && m.inline && !m.building && this.log.head.position - m.record.next < HAND_OVER_LAG) {
        m.owner = 'ready'
        m.train = undefined
        this.#ready.set(m, -1)
        this.#checkReady()
      }
    }
  }

  #stop (m: Member): void {
    m.owner = 'stopped'
    this.#ready.delete(m)
  }

  /**
   * Soon after a hand-over or a commit: members still waiting for the hook and behind the head
   * go back to a train if no batch has started since the last look (none may come to take
   * them); those that are current may be waited for.
   */
  #checkReady (): void {
    if (this.#checking) return
    this.#checking = true
    setImmediate(() => {
      this.#hook.whenIdle(() => {
        this.#checking = false
        let again = false
        for (const [m, seen] of this.#ready) {
          if (m.owner !== 'ready') {
            this.#ready.delete(m)
          } else if (m.record.next <= this.log.head.position) {
            if (seen === this.#hook.batches) {
              this.#ready.delete(m)
              this.#start(m)
            } else {
              this.#ready.set(m, this.#hook.batches)
              again = true
            }
          } else {
            m.projected.notify()
          }
        }
        if (again) this.#checkReady()
      })
    })
  }

  /** The hook is in the append path while an inline projection is registered, and only then. */
  #updateHook (wanted = [...this.#registered.values()].some(p => p.definition.mode === 'inline' && !p.following)): void {
    if (wanted && !this.#hookSet) {
      this.log.setHook(this.#hook)
      this.#hookSet = true
    } else if (!wanted && this.#hookSet) {
      this.#hookSet = false
      // never in the middle of a batch: the writer builds an append's events only for a hook
      this.#hook.whenIdle(() => { if (!this.#hookSet) this.log.setHook(undefined) })
    }
  }

  /** Deletes retired generations, behind; errors leave the marks for the next try. */
  #collect (): void {
    if (this.#closed) return
    if (this.#gc !== undefined) {
      this.#gcAgain = true
      return
    }
    this.#gc = (async () => {
      do {
        this.#gcAgain = false
        await collectGarbage(this.#storage, () => this.#closed)
      } while (this.#gcAgain && !this.#closed)
    })().catch(() => {}).finally(() => { this.#gc = undefined })
  }
}
