// Locks and notices within one process: what a backend that one process alone uses (the level
// backend's owner, before any client joins) coordinates with. Backends shared by processes
// build on it (the owner keeps the locks of its clients) or replace it (PostgreSQL's advisory
// locks and LISTEN/NOTIFY).
import type { Lock } from './backend.js'

export class LocalCoordination {
  readonly #held = new Map<string, { release: () => void }>()
  readonly #owners = new Map<string, unknown>()
  readonly #listeners = new Map<string, Set<(message: string) => void>>()

  /** Takes `name` if it is free; `owner` tells who holds it, for {@link releaseAll}. */
  tryLock (name: string, owner: unknown = undefined): Lock | undefined {
    if (this.#held.has(name)) return undefined
    let lose!: () => void
    const lost = new Promise<void>(resolve => { lose = resolve })
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.#held.delete(name)
      this.#owners.delete(name)
      this.notify('lock-freed', name)
    }
    this.#held.set(name, { release: () => { release(); lose() } })
    this.#owners.set(name, owner)
    return { name, release: async () => { release() }, lost }
  }

  /** Frees every lock `owner` holds (it went away): their `lost` promises settle. */
  releaseAll (owner: unknown): void {
    for (const [name, o] of [...this.#owners]) if (o === owner) this.#held.get(name)?.release()
  }

  notify (topic: string, message: string): void {
    for (const listener of [...this.#listeners.get(topic) ?? []]) {
      try {
        listener(message)
      } catch (err) {
        queueMicrotask(() => { throw err })
      }
    }
  }

  onNotice (topic: string, listener: (message: string) => void): () => void {
    let set = this.#listeners.get(topic)
    if (set === undefined) this.#listeners.set(topic, set = new Set())
    set.add(listener)
    return () => { set.delete(listener) }
  }
}
