// Ciphertexts are bound to their place: altered or moved, they fail to open (ANNALS_CORRUPT).
// Keys are bound to the master key: a wrong or missing one fails at open, before anything else.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { MemoryKeyStore, Sealed, open } from '../src/index.js'
import { collect, tempDir } from './helpers/backends.js'
import { rewriteData } from './helpers/records.js'

const personal = { UserRegistered: { subject: 'userId', fields: ['email'] } }

async function twoUsers (): Promise<{ level: MemoryLevel, keyStore: MemoryKeyStore }> {
  const level = new MemoryLevel()
  const keyStore = new MemoryKeyStore()
  const db = await open({ level }, { keyStore, personalData: personal })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'b@example.com' } })
  await db.close()
  return { level, keyStore }
}

/** Changes the data of the event at `position` (one event a chunk here), as an attacker with write access would. */
async function rewrite (level: MemoryLevel, position: number, change: (data: { email: Sealed }) => void): Promise<void> {
  await rewriteData(level as never, position, data => {
    change(data)
    return data
  })
}

t.test('an altered ciphertext', async t => {
  const { level, keyStore } = await twoUsers()
  await rewrite(level, 0, d => { d.email.box[0]! ^= 1 })
  const db = await open({ level }, { keyStore })
  await t.rejects(collect(db.readAll()), { code: 'ANNALS_CORRUPT' })
  t.same((await collect(db.readAll({ from: 1 })))[0]!.data.email, 'b@example.com', 'the others still open')
  await db.close()
})

t.test('a ciphertext moved to another event, as it is or relabelled', async t => {
  const { level, keyStore } = await twoUsers()
  let db = await open({ level }, { keyStore })
  const ids = (await collect(db.readAll())).map(e => e.id)
  await db.close()
  let moved: Sealed | undefined
  await rewrite(level, 0, d => { moved = d.email })
  await rewrite(level, 1, d => { d.email = moved! })
  db = await open({ level }, { keyStore })
  await t.rejects(collect(db.readAll({ from: 1 })), { code: 'ANNALS_CORRUPT', message: /another place/ })
  t.equal((await collect(db.readAll({ to: 0 })))[0]!.data.email, 'a@example.com', 'the original still opens')
  await db.close()
  // relabelled as if sealed for the second event: the cipher's bound data no longer matches
  const relabelled = new Sealed(moved!.subject, moved!.keyId, ids[1]!, 'email', moved!.iv, moved!.box)
  await rewrite(level, 1, d => { d.email = relabelled })
  db = await open({ level }, { keyStore })
  await t.rejects(collect(db.readAll({ from: 1 })), { code: 'ANNALS_CORRUPT', message: /altered/ })
  await db.close()
})

t.test('the master key', async t => {
  const { dir, remove } = tempDir('annals-key-')
  t.teardown(remove)
  const path = join(dir, 'db')
  const masterKey = randomBytes(32)
  let db = await open(path, { masterKey, personalData: personal })
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } })
  await db.close()
  await t.rejects(open(path), { code: 'ANNALS_WRONG_KEY' }, 'missing')
  await t.rejects(open(path, { masterKey: randomBytes(32) }), { code: 'ANNALS_WRONG_KEY' }, 'wrong')
  await t.rejects(open(path, { masterKey: Buffer.alloc(16) }), TypeError, 'not 32 bytes')
  await t.rejects(open({ level: new MemoryLevel() }, { masterKey }), TypeError, 'not for a level')
  db = await open(path, { masterKey })
  t.equal((await collect(db.readAll()))[0]!.data.email, 'a@example.com')
  // rotation: to a new key, then to none
  const next = randomBytes(32)
  await db.rotateMasterKey(next)
  await db.close()
  await t.rejects(open(path, { masterKey }), { code: 'ANNALS_WRONG_KEY' }, 'the old key no longer opens it')
  db = await open(path, { masterKey: next })
  t.equal((await collect(db.readAll()))[0]!.data.email, 'a@example.com')
  await db.rotateMasterKey(undefined)
  await db.close()
  await t.rejects(open(path, { masterKey: next }), { code: 'ANNALS_WRONG_KEY' }, 'keys stored without one refuse one')
  db = await open(path)
  t.equal((await collect(db.readAll()))[0]!.data.email, 'a@example.com')
  await db.close()
  // a database that never had personal data has no keys folder, and takes a master key
  const fresh = join(dir, 'fresh')
  db = await open(fresh)
  await db.append('s', { type: 'Plain' })
  await db.close()
  db = await open(fresh, { masterKey })
  await db.close()
})
