// The demo's time travel: a user's album as an aggregate, loaded now and as it was earlier.
import { defineAggregate, type Annals, type RecordedEvent } from '../src/index.js'

interface Album { photos: Record<string, { title: string, size: number }> }

/** A user's album, folded from their stream; plain data, so that it can be snapshotted. */
const Album = defineAggregate({
  name: 'album',
  version: 1,
  snapshotEvery: 100,
  initial: (): Album => ({ photos: {} }),
  evolve: (album: Album, e: RecordedEvent): Album => {
    const d = e.data as { photoId: string, title: string, size: number }
    const photos = { ...album.photos }
    const photo = photos[d.photoId]
    if (e.type === 'PhotoAdded') photos[d.photoId] = { title: d.title, size: d.size }
    else if (e.type === 'PhotoRetitled' && photo !== undefined) photos[d.photoId] = { ...photo, title: d.title }
    else if (e.type === 'PhotoReplaced' && photo !== undefined) photos[d.photoId] = { ...photo, size: d.size }
    else if (e.type === 'PhotoDeleted') delete photos[d.photoId]
    return { photos }
  }
})

function line (text = ''): void {
  process.stdout.write(text + '\n')
}

/** Prints one user's album now and as it was halfway through their history. */
export async function timeTravel (db: Annals, user = 'user-7'): Promise<void> {
  const now = await db.load(Album, user)
  // a moment halfway through the album's history: the commit time of its middle event
  let moment: number | undefined
  for await (const e of db.readStream(user, { from: Math.floor(now.revision / 2), limit: 1 })) moment = e.time
  if (moment === undefined) return
  const start = performance.now()
  const then = await db.load(Album, user, { at: { time: moment } })
  const ms = (performance.now() - start).toFixed(1)
  const titles = (album: Album): string => Object.values(album.photos).map(p => p.title).join(', ')
  line(`time travel: ${user}'s album as it was at ${new Date(moment).toISOString()} (revision ${then.revision}, loaded in ${ms} ms):`)
  line(`  ${Object.keys(then.state.photos).length} photos then: ${titles(then.state)}`)
  line(`  ${Object.keys(now.state.photos).length} photos now (revision ${now.revision}): ${titles(now.state)}`)
  line()
}
