// Where data subjects' keys live. A small interface, so that keys can stay in a key management
// service of yours; annals ships a LevelDB one (the default for a database in a folder) and an
// in-memory one (for tests, and databases that live in memory anyway).
import { randomFillSync } from 'node:crypto'
import type { SubjectKey } from './cipher.js'

export type { SubjectKey }

/**
 * Keeps one current key per data subject. annals caches keys in memory, and asks again only
 * for subjects it has not seen; `shred` must make the subject's keys unrecoverable for good,
 * wherever the store keeps them.
 *
 * @example
 * ```ts
 * class KmsKeyStore implements KeyStore {
 *   async getOrCreate (subject: string) { return await kms.getOrCreateDataKey(subject) }
 *   async get (subject: string) { return await kms.getDataKey(subject) }
 *   async shred (subject: string) { await kms.destroyDataKey(subject) }
 * }
 * const db = await open('./data', { keyStore: new KmsKeyStore() })
 * ```
 */
export interface KeyStore {
  /**
   * The subject's current key; if it has none (never had one, or was shredded), a new key,
   * stored durably before this resolves: events sealed with it must never outlive it.
   */
  getOrCreate (subject: string): Promise<SubjectKey>
  /** The subject's current key, or undefined if it has none. */
  get (subject: string): Promise<SubjectKey | undefined>
  /** Erases every key of the subject, for good. Erasing a subject without keys is fine. */
  shred (subject: string): Promise<void>
  /** Releases what the store holds open. annals calls it on close for the stores it created. */
  close? (): Promise<void>
}

// key bytes come from a pool refilled in one call, as IVs do
const pool = Buffer.allocUnsafe(40 * 256)
let poolOffset = pool.length

/** A new random key. */
export function newKey (): SubjectKey {
  if (poolOffset === pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 40)
  poolOffset += 40
  const key = { id: Buffer.from(bytes.subarray(0, 8)), key: Buffer.from(bytes.subarray(8)) }
  bytes.fill(0) // the pool keeps no copy
  return key
}

/** Overwrites a key's bytes in memory, so that a shredded key does not linger on the heap. */
export function wipe (key: SubjectKey): void {
  key.key.fill(0)
}

/**
 * Keys in memory: gone when the process ends. For tests, and for databases in memory.
 *
 * @example
 * ```ts
 * const db = await open({ level: new MemoryLevel() }, { keyStore: new MemoryKeyStore() })
 * ```
 */
export class MemoryKeyStore implements KeyStore {
  readonly #keys = new Map<string, SubjectKey>()

  async getOrCreate (subject: string): Promise<SubjectKey> {
    let key = this.#keys.get(subject)
    if (key === undefined) this.#keys.set(subject, key = newKey())
    return key
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    return this.#keys.get(subject)
  }

  async shred (subject: string): Promise<void> {
    const key = this.#keys.get(subject)
    if (key !== undefined) wipe(key)
    this.#keys.delete(subject)
  }
}
