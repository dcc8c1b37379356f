// The demo: the photo-sharing service of the course case study, on an embedded LevelDB.
// Users register, then upload, retitle, replace and delete photos; each user's album is one
// stream. The service has had three releases, and each wrote its own shape of upload
// (demo/events.ts): the demo runs them in turn, and release 3 reads every upload as it knows
// them now. Run it with `npm run demo`.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { AnnalsError, open, type Annals, type RecordedEvent } from '../src/index.js'
import { events, release2 } from './events.js'
import { forgetUser, personalData } from './privacy.js'
import { flakyClient } from './storage.js'
import { timeTravel } from './time-travel.js'
import { keepViews, printViews } from './views.js'

const DIR = join(process.cwd(), 'demo-data')
const USERS = 300
const CLIENTS = 32
/** The photo actions each release made: 4,000 in all. */
const RELEASES = [{ release: 1, actions: 1000 }, { release: 2, actions: 1000 }, { release: 3, actions: 2000 }] as const
const tagList = ['sunset', 'street', 'family', 'travel', 'snow', 'night']

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
  // release 1 read its uploads as PhotoUploaded; releases 2 and 3 read them as PhotoAdded
  if (e.type === 'PhotoAdded' || e.type === 'PhotoUploaded') album.photos.set(d.photoId, { title: d.title, size: d.size })
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

/** An upload, as each release wrote it. */
function upload (release: 1 | 2 | 3, photoId: string): { type: string, data: Record<string, unknown> } {
  const title = `The ${pick(places)}`
  const size = 1_000_000 + Math.floor(rand() * 4_000_000)
  if (release === 1) return { type: 'PhotoUploaded', data: { photoId, title, size } }
  const camera = pick(cameras)
  if (release === 2) return { type: 'PhotoAdded', data: { photoId, title, camera, size } }
  return { type: 'PhotoAdded', data: { photoId, title, camera, size, tags: [pick(tagList)] } }
}

/** One user action: decide from the current album, append with the revision it was decided on. */
async function act (db: Annals, release: 1 | 2 | 3, user: string, n: number): Promise<'ok' | 'conflict'> {
  const album = await loadAlbum(db, user)
  const photos = [...album.photos.keys()]
  const roll = rand()
  let event: { type: string, data: Record<string, unknown>, metadata?: Record<string, unknown> }
  if (photos.length === 0 || roll < 0.55) {
    event = upload(release, `${user}-p${n}`)
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

/** `count` photo actions from CLIENTS concurrent clients, numbered from `first`; prints how it went. */
async function actions (db: Annals, release: 1 | 2 | 3, first: number, count: number): Promise<void> {
  const start = performance.now()
  let conflicts = 0
  let next = first
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < first + count) {
      const n = next++
      if (await act(db, release, `user-${Math.floor(rand() * USERS)}`, n) === 'conflict') conflicts++
    }
  }))
  const elapsed = performance.now() - start
  line(`  ${count} photo actions from ${CLIENTS} concurrent clients in ${elapsed.toFixed(0)} ms ` +
    `(${Math.round(count / elapsed * 1000)} actions/s, each a stream read and an append);`)
  line(`  ${conflicts} lost a race to another client (ANNALS_WRONG_EXPECTED_REVISION) and wrote nothing`)
}

/**
 * Releases 1 and 2 of the service: users register, and upload in the shapes of their time
 * (release 1 declares no versions; release 2 declares its own, demo/events.ts).
 */
async function olderReleases (): Promise<void> {
  let db = await open(DIR, { personalData })
  const start = performance.now()
  await Promise.all(Array.from({ length: USERS }, async (_, i) =>
    await db.append(`user-${i}`, {
      type: 'UserRegistered',
      data: { userId: `user-${i}`, name: `${pick(names)} ${i}`, email: `user${i}@example.com`, plan: rand() < 0.2 ? 'pro' : 'free' }
    }, { expectedRevision: 'no_stream' })))
  line(`${USERS} users registered, each in a stream of their own (${ms(start)})`)
  line('release 1 uploads PhotoUploaded { photoId, title, size } (version 1):')
  await actions(db, 1, 0, RELEASES[0].actions)
  await db.close()
  db = await open(DIR, { personalData, events: release2 })
  line('release 2 renamed it PhotoAdded, with the camera (version 2):')
  await actions(db, 2, RELEASES[0].actions, RELEASES[1].actions)
  await db.close()
}

async function main (): Promise<void> {
  rmSync(DIR, { recursive: true, force: true })
  line(`annals demo: a photo-sharing service, stored in ${DIR}`)
  line()
  await olderReleases()

  // release 3, the current one: it reads every upload as PhotoAdded version 3 (demo/events.ts)
  const db = await open(DIR, { personalData, events })
  // a durable subscription, as a notification service would keep: it sees every upload, live
  let uploads = 0
  const views = await keepViews(db) // before the appends: inline views are current with every one
  const notifier = db.subscribe({ name: 'upload-notifier', types: ['PhotoAdded'] }, () => { uploads++ })
  line('release 3 added tags (version 3), and reads every upload as PhotoAdded version 3:')
  await actions(db, 3, RELEASES[0].actions + RELEASES[1].actions, RELEASES[2].actions)

  // an idempotent retry: the client timed out, did not know the append succeeded, and sent it again
  const upload = { id: 'upload-7f3a', type: 'PhotoAdded', data: { photoId: 'user-1-retry', title: 'The harbour', camera: 'Pixel 8', size: 2_000_000, tags: ['harbour'] } }
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
    line(`  ${`r${e.revision}`.padEnd(4)} ${`p${e.position}`.padEnd(6)} ${`${e.type} v${e.version}`.padEnd(18)} ${JSON.stringify(e.data)}`)
  }
  line('  (every upload reads as PhotoAdded v3, whichever release wrote it: `annals read ./demo-data user-7 --stored` shows them as stored)')
  const album = await loadAlbum(db, user)
  line(`  -> ${album.photos.size} photos now: ${[...album.photos.values()].map(p => p.title).join(', ')}`)
  line()
  await timeTravel(db, user)

  const counts = new Map<string, number>()
  let total = 0
  const start = performance.now()
  for await (const e of db.readAll()) {
    counts.set(e.type, (counts.get(e.type) ?? 0) + 1)
    total++
  }
  line(`the whole log, replayed in ${ms(start)}: ${total} events, uploads upcast from versions 1 and 2 included`)
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
