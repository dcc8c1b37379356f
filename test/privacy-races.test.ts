// Races between the key cache and shreds, provoked deterministically: a key store whose answers
// are held back until a shred has run, and a master key rotation with keys made and shredded
// while it runs.
import t from 'tap'
import { setImmediate as tick } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { LevelKeyStore, MemoryKeyStore, open, type KeyStore, type SubjectKey } from '../src/index.js'
import type { RecordedEvent } from '../src/log/types.js'
import { Privacy } from '../src/privacy/privacy.js'
import { LevelDoor } from '../src/backend/level/door.js'
import { collect, tempDir } from './helpers/backends.js'

const personal = { subject: 'userId', fields: ['email'] }
const registered = (n: number, email = `user${n}@example.com`): { type: string, data: Record<string, unknown> } =>
  ({ type: 'UserRegistered', data: { userId: `user-${n}`, email } })

type Method = 'get' | 'getOrCreate'

/**
 * A key store (as a key management service would be) that hands out copies of keys, and whose
 * next answer to a method can be held back: the store has looked the key up (or made it), the
 * answer is on its way, and arrives only when the test releases it.
 */
class HeldKeyStore implements KeyStore {
  readonly #inner = new MemoryKeyStore()
  readonly #holds = new Map<Method, { reached: () => void, gate: Promise<void> }>()

  /** Holds the next answer of `method`: `reached` resolves once it is held. */
  hold (method: Method): { reached: Promise<void>, release: () => void } {
    let reached!: () => void
    let release!: () => void
    const reachedP = new Promise<void>(resolve => { reached = resolve })
    const gate = new Promise<void>(resolve => { release = resolve })
    this.#holds.set(method, { reached, gate })
    return { reached: reachedP, release }
  }

  async #answer<T> (method: Method, value: T): Promise<T> {
    const hold = this.#holds.get(method)
    if (hold !== undefined) {
      this.#holds.delete(method)
      hold.reached()
      await hold.gate
    }
    return value
  }

  async getOrCreate (subject: string): Promise<SubjectKey> {
    return await this.#answer('getOrCreate', copy(await this.#inner.getOrCreate(subject)))
  }

  async get (subject: string): Promise<SubjectKey | undefined> {
    const key = await this.#inner.get(subject)
    return await this.#answer('get', key === undefined ? undefined : copy(key))
  }

  async shred (subject: string): Promise<void> {
    await this.#inner.shred(subject)
  }
}

function copy (key: SubjectKey): SubjectKey {
  return { id: Buffer.from(key.id), key: Buffer.from(key.key) }
}

t.test('a key read that straddles a shred is not remembered: fields stay forgotten', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  const keyStore = new HeldKeyStore()
  let db = await open({ level }, { keyStore, personalData: { UserRegistered: personal } })
  await db.append('user-1', registered(1))
  await db.close()
  db = await open({ level }, { keyStore, personalData: { UserRegistered: personal } }) // nothing cached
  const held = keyStore.hold('get')
  const reading = collect(db.readStream('user-1'))
  await held.reached // the store has read the key; its answer is on the way
  await db.shred('user-1')
  held.release()
  await reading // it straddled the shred: either answer is fine for it
  const [after] = await collect(db.readStream('user-1'))
  t.equal(after!.data.email, null, 'a read after the shred gives null')
  t.same(after!.redacted, ['email'])
  await db.close()
})

for (const existing of [true, false]) {
  t.test(`a key ${existing ? 'read' : 'made'} for an append that straddles a shred does not seal it`, async t => {
    const level = new MemoryLevel()
    t.teardown(async () => { await level.close() })
    const keyStore = new HeldKeyStore()
    let db = await open({ level }, { keyStore, personalData: { UserRegistered: personal } })
    if (existing) await db.append('user-2', registered(2, 'first@example.com'))
    else await db.append('other', registered(9))
    await db.close()
    db = await open({ level }, { keyStore, personalData: { UserRegistered: personal } }) // nothing cached
    const held = keyStore.hold('getOrCreate')
    const appending = db.append('user-2', registered(2, 'second@example.com'))
    await held.reached // the key is read or made; the answer is on the way
    await db.shred('user-2')
    held.release()
    const { position } = await appending
    const emails = async (): Promise<unknown[]> => (await collect(db.readStream('user-2'))).map(e => e.data.email)
    t.same(await emails(), existing ? [null, 'second@example.com'] : ['second@example.com'], 'in this process')
    await db.close()
    db = await open({ level }, { keyStore, personalData: { UserRegistered: personal } })
    t.same(await emails(), existing ? [null, 'second@example.com'] : ['second@example.com'], 'after reopening: the acknowledged append reads')
    t.equal((await collect(db.readAll({ from: position })))[0]!.data.email, 'second@example.com')
    await db.close()
  })
}

t.test('a key made ready before a shred does not seal an event after it', async t => {
  const level = new MemoryLevel()
  const storage = await LevelDoor.openLevel(level)
  t.teardown(async () => { await storage.close(); await level.close() })
  const privacy = await Privacy.open(storage, new MemoryKeyStore())
  privacy.declare('UserRegistered', personal)
  const { data } = registered(3)
  await privacy.prepare([{ type: 'UserRegistered', data }])
  await privacy.shred(['user-3'])
  const event: RecordedEvent = { id: 'e-3', stream: 'user-3', revision: 0, position: 0, type: 'UserRegistered', version: 1, data, metadata: {}, time: Date.now() }
  t.throws(() => privacy.seal(event), { code: 'ANNALS_SUBJECT_SHREDDED' })
  await privacy.prepare([{ type: 'UserRegistered', data }])
  t.ok(privacy.seal(event), 'prepared again, after the shred, it seals under a new key')
})

t.test('a master key rotation re-wraps keys made while it runs, and does not bring back keys shredded meanwhile', async t => {
  const { dir, remove } = tempDir('annals-rotate-race-')
  t.teardown(remove)
  const location = join(dir, 'keys')
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)]
  let store = new LevelKeyStore(location, { masterKey: oldKey })
  await Promise.all(Array.from({ length: 3000 }, async (_, i) => await store.getOrCreate(`s-${i}`)))
  const made = new Map<string, SubjectKey>()
  const shredded: string[] = []
  const read: Array<Promise<unknown>> = []
  const rotating = store.rotateMasterKey(newKey)
  let rotated = false
  void rotating.then(() => { rotated = true }, () => {})
  for (let i = 0; !rotated && i < 50; i++) {
    await tick()
    const subject = `new-${i}`
    read.push(store.getOrCreate(subject).then(key => { made.set(subject, copy(key)) }))
    read.push(store.get(`s-${i}`)) // reads during the rotation open too
    if (i % 5 === 0) {
      shredded.push(`s-${i + 100}`)
      read.push(store.shred(`s-${i + 100}`))
    }
  }
  await rotating
  await Promise.all(read)
  t.ok(made.size > 1, `${made.size} keys asked for during the rotation`)
  await store.close()
  store = new LevelKeyStore(location, { masterKey: newKey })
  t.teardown(async () => { await store.close() })
  const unreadable: string[] = []
  for (const [subject, key] of made) {
    const stored = await store.get(subject).catch(() => undefined)
    if (stored === undefined || Buffer.compare(Buffer.from(stored.key), Buffer.from(key.key)) !== 0) unreadable.push(subject)
  }
  t.same(unreadable, [], 'every key made during the rotation opens under the new master key')
  const back: string[] = []
  for (const subject of shredded) if (await store.get(subject).catch(() => 'unreadable') !== undefined) back.push(subject)
  t.same(back, [], 'no key shredded during the rotation came back')
})
