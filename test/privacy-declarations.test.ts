// Personal-data declarations kept in the database: written durably before the first event
// they seal (and surviving a kill -9 at any moment), refused when they cannot be, decoded
// strictly, in force without a key store (appends of those types then fail alone), and applied
// by `annals import`.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryLevel } from 'memory-level'
import { MemoryKeyStore, open } from '../src/index.js'
import { encode } from '../src/storage/codec.js'
import { internalsOf } from '../src/store/internals.js'
import { collect, tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'
import { annals } from './helpers/cli.js'
import { scan } from './helpers/scan.js'

const personal = { subject: 'userId', fields: ['email'] }
const DECLARED = Buffer.from('Kdeclared/')

/** Makes the level's writes of declarations fail while `failing()` says so; records their `sync` option. */
function watchDeclarations (level: MemoryLevel, failing: () => boolean): Array<boolean | undefined> {
  const syncs: Array<boolean | undefined> = []
  const declares = (key: unknown): boolean => Buffer.isBuffer(key) && key.subarray(0, DECLARED.length).equals(DECLARED)
  const put = level.put.bind(level)
  level.put = (async (key: unknown, value: unknown, options?: { sync?: boolean }) => {
    if (declares(key)) {
      if (failing()) throw new Error('disk full')
      syncs.push(options?.sync)
    }
    return await put(key as never, value as never, options as never)
  }) as typeof level.put
  const batch = level.batch.bind(level)
  level.batch = ((...args: unknown[]) => {
    if (args.length > 0) return batch(...(args as [never]))
    const chained = batch()
    const write = chained.write.bind(chained)
    let touches = false
    const put = chained.put.bind(chained)
    chained.put = ((key: unknown, ...rest: unknown[]) => { touches ||= declares(key); return put(key as never, ...(rest as [never])) }) as typeof chained.put
    chained.write = (async (options?: { sync?: boolean }) => {
      if (touches) {
        if (failing()) throw new Error('disk full')
        syncs.push(options?.sync)
      }
      return await write(options as never)
    }) as typeof chained.write
    return chained
  }) as typeof level.batch
  return syncs
}

t.test('a declaration is written with an fsync; when it cannot be, appends it would seal fail and it is tried again', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  let failing = true
  const syncs = watchDeclarations(level, () => failing)
  const keyStore = new MemoryKeyStore()
  await t.rejects(open({ level }, { keyStore, personalData: { UserRegistered: personal } }), { code: 'ANNALS_STORAGE' }, 'open fails when the declarations given cannot be stored')
  let db = await open({ level }, { keyStore })
  db.definePersonalData('UserRegistered', personal)
  await t.rejects(db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } }), { code: 'ANNALS_STORAGE' })
  t.equal(await db.revision('user-1'), -1, 'nothing written in plain, or at all')
  await db.append('other', { type: 'Plain' })
  failing = false
  await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com' } })
  t.same(syncs, [true], 'written once, with sync')
  await db.close()
  db = await open({ level }, { keyStore })
  t.ok(internalsOf(db).privacy.seals('UserRegistered'), 'stored')
  await db.close()
})

t.test('close rejects when a declaration could not be stored, and still closes', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  watchDeclarations(level, () => true)
  const db = await open({ level }, { keyStore: new MemoryKeyStore() })
  db.definePersonalData('UserRegistered', personal)
  await t.rejects(db.close(), { code: 'ANNALS_STORAGE' })
  t.equal(db.status, 'closed')
})

t.test('stored declarations are decoded strictly', async t => {
  for (const [value, code] of [
    [Buffer.from([0x92, 1]), 'ANNALS_CORRUPT'],
    [encode(['userId', ['email']]), 'ANNALS_CORRUPT'],
    [encode({ subject: 'userId', fields: [] }), 'ANNALS_CORRUPT'],
    [encode({ subject: 3, fields: ['email'] }), 'ANNALS_CORRUPT'],
    [encode({ subject: 'userId', fields: ['email'], since: 2 }), 'ANNALS_UNSUPPORTED_FORMAT']
  ] as const) {
    const level = new MemoryLevel()
    await (await open({ level })).close()
    await level.put(Buffer.concat([DECLARED, Buffer.from('UserRegistered')]), value, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await t.rejects(open({ level }, { keyStore: new MemoryKeyStore() }), { code }, code)
    await level.close()
  }
})

t.test('without a key store, stored declarations are in force: appends of those types fail alone', async t => {
  const level = new MemoryLevel()
  t.teardown(async () => { await level.close() })
  let db = await open({ level }, { keyStore: new MemoryKeyStore(), personalData: { UserRegistered: personal } })
  await db.close()
  db = await open({ level })
  const results = await Promise.allSettled([
    db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'b@example.com' } }),
    db.append('other', { type: 'Plain' })
  ])
  t.match(results, [{ status: 'rejected', reason: { code: 'ANNALS_NO_KEY_STORE' } }, { status: 'fulfilled' }])
  t.same((await collect(db.readAll())).map(e => e.type), ['Plain'])
  await db.close()
})

t.test('declarations survive kills -9: every event sealed by one finds it stored', async t => {
  const { dir, remove } = tempDir('annals-declare-crash-')
  t.teardown(remove)
  const path = join(dir, 'db')
  for (let cycle = 0; cycle < 4; cycle++) {
    let appended = 0
    let first!: () => void
    const started = new Promise<void>(resolve => { first = resolve })
    const child = await startChild('declare-child.mjs', [path, `c${cycle}`], line => {
      if (line.startsWith('appended ')) appended++
      first()
    })
    await started
    await new Promise(resolve => setTimeout(resolve, Math.random() * 60))
    await kill(child)
    const db = await open(path) // no declarations of its own
    const { privacy } = internalsOf(db)
    const events = (await collect(db.readAll())).filter(e => e.type.startsWith(`c${cycle}-`))
    t.ok(events.length >= appended && appended > 0, `kill ${cycle + 1}: ${appended} appends acknowledged, ${events.length} stored`)
    t.same(events.filter(e => !privacy.seals(e.type)).map(e => e.type), [], 'every type with events has its declaration stored')
    await db.shred(events.map(e => e.stream))
    t.same((await collect(db.readAll())).filter(e => e.type.startsWith(`c${cycle}-`) && e.data.email !== null).map(e => e.type), [], 'and they were sealed')
    await db.close()
  }
})

t.test('annals import seals the fields the database declares, and refuses a type whose subject function it lacks', async t => {
  const { dir, remove } = tempDir('annals-declare-import-')
  t.teardown(remove)
  const target = join(dir, 'target')
  const shipped = { subject: (d: { customer: string }) => d.customer, fields: ['shipTo'] }
  let db = await open(target, { personalData: { UserRegistered: personal } })
  await db.close()
  // an export from a database that never declared them: the email is in plain, and not listed
  const line = (position: number, type: string, data: unknown): string => JSON.stringify({ id: `e${position}`, stream: 's', revision: position, position, type, data, metadata: {}, time: 1000 })
  const file = join(dir, 'export.jsonl')
  writeFileSync(file, [line(0, 'UserRegistered', { userId: 'user-3', email: 'imported@example.com' }), line(1, 'Noted', { email: 'plain@example.com' })].join('\n'))
  const imported = await annals(['import', target, file])
  t.equal(imported.code, 0, imported.stderr)
  t.same(scan(target, { email: Buffer.from('imported@example.com') }), [], 'no plaintext of it in the files')
  db = await open(target)
  t.same((await collect(db.readAll())).map(e => e.data.email), ['imported@example.com', 'plain@example.com'])
  await db.shred('user-3')
  t.same((await collect(db.readAll())).map(e => e.redacted), [['email'], undefined])
  await db.close()

  const functional = join(dir, 'functional')
  db = await open(functional, { personalData: { OrderShipped: shipped } })
  await db.close()
  writeFileSync(file, line(0, 'OrderShipped', { customer: 'c-1', shipTo: '1 Harbour Rd' }))
  const refused = await annals(['import', functional, file])
  t.not(refused.code, 0)
  t.match(refused.stderr, /ANNALS_SUBJECT_UNDECLARED/)
  db = await open(functional)
  t.equal((await collect(db.readAll())).length, 0, 'nothing imported')
  await db.close()
})
