// The demo: the photo-sharing service of the course case study, on an embedded LevelDB.
// Users register, then upload, retitle, replace and delete photos; each user's album is one
// stream. Run it with `npm run demo`.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { AnnalsError, open, type Annals, type RecordedEvent } from '../src/index.js'
import { forgetUser, personalData } from './privacy.js'
import { flakyClient } from './storage.js'
import { timeTravel } from './time-travel.js'
import { keepViews, printViews } from './views.js'

const DIR = join(process.cwd(), 'demo-data')
const USERS = 300
const ACTIONS = 4000
const CLIENTS = 32

/** A small seeded generator: the same mix of users and actions on every run. */
function random (seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
}
const rand = random(42)
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!

const names = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Radia', 'Tim']
const places = ['dunes', 'harbour', 'old town', 'glacier', 'market', 'lighthouse', 'forest', 'rooftops']
const cameras = ['Fujifilm X-T4', 'Canon EOS R6', 'Pixel 8', 'iPhone 15', 'Nikon Z6']

interface Album {
  photos: Map<string, { title: string, size: number }>
  revision: number
}

/** The album of a user: folded from its stream, the event-sourced way. */
function evolve (album: Album, e: RecordedEvent): Album {
  const d = e.data as { photoId: string, title: string, size: number }
  if (e.type === 'PhotoAdded') album.photos.set(d.photoId, { title: d.title, size: d.size })
  else if (e.type === 'PhotoRetitled') album.photos.get(d.photoId)!.title = d.title
  else if (e.type === 'PhotoReplaced') album.photos.get(d.photoId)!.size = d.size
  else if (e.type === 'PhotoDeleted') album.photos.delete(d.photoId)
  album.revision = e.revision
  return album
}

async function loadAlbum (db: Annals, user: string): Promise<Album> {
  let album: Album = { photos: new Map(), revision: -1 }
  for await (const e of db.readStream(user)) album = evolve(album, e)
  return album
}

/** One user action: decide from the current album, append with the revision it was decided on. */
async function act (db: Annals, user: string, n: number): Promise<'ok' | 'conflict'> {
  const album = await loadAlbum(db, user)
  const photos = [...album.photos.keys()]
  const roll = rand()
  let event: { type: string, data: Record<string, unknown>, metadata?: Record<string, unknown> }
  if (photos.length === 0 || roll < 0.55) {
    event = { type: 'PhotoAdded', data: { photoId: `${user}-p${n}`, title: `The ${pick(places)}`, camera: pick(cameras), size: 1_000_000 + Math.floor(rand() * 4_000_000) } }
  } else if (roll < 0.75) {
    event = { type: 'PhotoRetitled', data: { photoId: pick(photos), title: `The ${pick(places)} at dusk` } }
  } else if (roll < 0.88) {
    const photoId = pick(photos)
    event = { type: 'PhotoReplaced', data: { photoId, size: 1_000_000 + Math.floor(rand() * 4_000_000) }, metadata: { previousSize: album.photos.get(photoId)!.size } }
  } else {
    const photoId = pick(photos)
    event = { type: 'PhotoDeleted', data: { photoId }, metadata: { previousSize: album.photos.get(photoId)!.size } }
  }
  try {
    await db.append(user, event, { expectedRevision: album.revision })
    return 'ok'
  } catch (err) {
    // another client changed this album since we read it: a real service would reload and retry
    if (err instanceof AnnalsError && err.code === 'ANNALS_WRONG_EXPECTED_REVISION') return 'conflict'
    throw err
  }
}

function line (text = ''): void {
  process.stdout.write(text + '\n')
}

async function main (): Promise<void> {
  rmSync(DIR, { recursive: true, force: true })
  const db = await open(DIR, { personalData })
  line(`annals demo: a photo-sharing service, stored in ${DIR}`)
  line()

  // a durable subscription, as a notification service would keep: it sees every upload, live
  let uploads = 0
  const views = await keepViews(db) // before the appends: inline views see every one
  const notifier = db.subscribe({ name: 'upload-notifier', types: ['PhotoAdded'] }, () => { uploads++ })

  let start = performance.now()
  await Promise.all(Array.from({ length: USERS }, async (_, i) =>
    await db.append(`user-${i}`, {
      type: 'UserRegistered',
      data: { userId: `user-${i}`, name: `${pick(names)} ${i}`, email: `user${i}@example.com`, plan: rand() < 0.2 ? 'pro' : 'free' }
    }, { expectedRevision: 'no_stream' })))
  line(`${USERS} users registered, each in a stream of their own (${ms(start)})`)

  start = performance.now()
  let conflicts = 0
  let next = 0
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < ACTIONS) {
      const n = next++
      if (await act(db, `user-${Math.floor(rand() * USERS)}`, n) === 'conflict') conflicts++
    }
  }))
  const elapsed = performance.now() - start
  line(`${ACTIONS} photo actions from ${CLIENTS} concurrent clients in ${elapsed.toFixed(0)} ms ` +
    `(${Math.round(ACTIONS / elapsed * 1000)} actions/s, each a stream read and an append)`)
  line(`  ${conflicts} lost a race to another client (ANNALS_WRONG_EXPECTED_REVISION) and wrote nothing`)

  // an idempotent retry: the client timed out, did not know the append succeeded, and sent it again
  const upload = { id: 'upload-7f3a', type: 'PhotoAdded', data: { photoId: 'user-1-retry', title: 'The harbour', camera: 'Pixel 8', size: 2_000_000 } }
  const first = await db.append('user-1', upload)
  const again = await db.append('user-1', upload)
  line(`a retried upload with the same id was stored once: ${JSON.stringify(first)} then ${JSON.stringify(again)}`)

  await notifier.caughtUp()
  line(`the upload notifier (a durable subscription) has seen ${uploads} uploads`)
  line()

  // history, read back
  const user = 'user-7'
  line(`the history of ${user}:`)
  for await (const e of db.readStream(user)) {
    line(`  ${`r${e.revision}`.padEnd(4)} ${`p${e.position}`.padEnd(6)} ${e.type.padEnd(15)} ${JSON.stringify(e.data)}`)
  }
  const album = await loadAlbum(db, user)
  line(`  -> ${album.photos.size} photos now: ${[...album.photos.values()].map(p => p.title).join(', ')}`)
  line()
  await timeTravel(db, user)

  const counts = new Map<string, number>()
  let total = 0
  start = performance.now()
  for await (const e of db.readAll()) {
    counts.set(e.type, (counts.get(e.type) ?? 0) + 1)
    total++
  }
  line(`the whole log, replayed in ${ms(start)}: ${total} events`)
  for (const [type, n] of counts) line(`  ${type.padEnd(15)} ${n}`)
  line()
  line('the last three events:')
  for await (const e of db.readAll({ backwards: true, limit: 3 })) {
    line(`  p${e.position} ${new Date(e.time).toISOString()} ${e.stream} ${e.type}`)
  }

  line()
  await printViews(views, Math.floor(total / 2), line)
  line()
  await flakyClient(db, `user-${USERS}`, line)
  line()
  await forgetUser(db, 'user-7', line)

  await db.close()
  line()
  line('done; the database is in ./demo-data (delete it, or run the demo again to start over)')
}

function ms (start: number): string {
  return `${(performance.now() - start).toFixed(0)} ms`
}

await main()
