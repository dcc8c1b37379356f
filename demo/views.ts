// The demo's views: three projections of the photo log, kept by annals as the clients append.
// Photos per user and storage used per user are inline (current the moment an append resolves);
// photos per camera is async (caught up in the background).
import { defineProjection, type Annals, type Projection, type RecordedEvent } from '../src/index.js'

interface PhotoData { photoId: string, camera?: string, size?: number }

/** photoId -> [user, camera, size]: what later events need to know about a photo. */
export const Photos = defineProjection<[string, string, number]>({
  name: 'photos',
  mode: 'inline',
  types: ['PhotoAdded', 'PhotoReplaced', 'PhotoDeleted'],
  async handle (event, view) {
    const d = event.data as PhotoData
    if (event.type === 'PhotoAdded') view.put(d.photoId, [event.stream, d.camera ?? 'unknown', d.size ?? 0])
    else if (event.type === 'PhotoDeleted') view.del(d.photoId)
    else {
      const photo = await view.get(d.photoId)
      if (photo !== undefined) view.put(d.photoId, [photo[0], photo[1], d.size ?? 0])
    }
  }
})

/** user -> { photos, bytes }. */
export const PerUser = defineProjection<{ photos: number, bytes: number }>({
  name: 'per-user',
  mode: 'inline',
  types: ['PhotoAdded', 'PhotoReplaced', 'PhotoDeleted'],
  async handle (event, view) {
    const d = event.data as PhotoData
    const user = await view.get(event.stream) ?? { photos: 0, bytes: 0 }
    if (event.type === 'PhotoAdded') view.put(event.stream, { photos: user.photos + 1, bytes: user.bytes + (d.size ?? 0) })
    else view.put(event.stream, { photos: user.photos - (event.type === 'PhotoDeleted' ? 1 : 0), bytes: user.bytes + sizeChange(event, d) })
  }
})

// the size a replace or delete takes away is in the event's metadata, added by the client
function sizeChange (event: RecordedEvent, d: PhotoData): number {
  const before = (event.metadata.previousSize as number | undefined) ?? 0
  return event.type === 'PhotoDeleted' ? -before : (d.size ?? 0) - before
}

/** camera -> photos added with it. */
export const PerCamera = defineProjection<number>({
  name: 'per-camera',
  types: ['PhotoAdded'],
  async handle (event, view) {
    const camera = (event.data as PhotoData).camera ?? 'unknown'
    view.put(camera, (await view.get(camera) ?? 0) + 1)
  }
})

export interface Views {
  photos: Projection<[string, string, number]>
  perUser: Projection<{ photos: number, bytes: number }>
  perCamera: Projection<number>
}

/** Registers the views; call before appending, so the inline ones see every append. */
export async function keepViews (db: Annals): Promise<Views> {
  return {
    photos: await db.project(Photos),
    perUser: await db.project(PerUser),
    perCamera: await db.project(PerCamera)
  }
}

/** Prints the views, and photos per camera as it was at `earlier`. */
export async function printViews (views: Views, earlier: number, line: (text?: string) => void): Promise<void> {
  await views.perCamera.caughtUp()
  const users: Array<[string, { photos: number, bytes: number }]> = []
  for await (const entry of views.perUser.query()) users.push(entry)
  users.sort(([, a], [, b]) => b.bytes - a.bytes)
  line('views kept from the log (projections):')
  line('  storage used, top 3 users (inline):')
  for (const [user, u] of users.slice(0, 3)) line(`    ${user.padEnd(9)} ${String(u.photos).padStart(3)} photos ${(u.bytes / 1e6).toFixed(1).padStart(7)} MB`)
  const then = await views.perCamera.at({ position: earlier })
  line(`  photos per camera (async), now and as it was at position ${earlier}:`)
  for await (const [camera, count] of views.perCamera.query()) line(`    ${camera.padEnd(14)} ${String(count).padStart(5)}  (then ${await then.get(camera) ?? 0})`)
  line(`  ${views.perCamera.status().state}, ${views.photos.status().state}, ${views.perUser.status().state}`)
}
