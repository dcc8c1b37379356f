// The demo's storage accounting, and the bug it met: a flaky client retried a delete without an
// event id, the photo's bytes were taken away twice, and a user's storage went negative.
// docs/cli.md finds the event that did it with `annals replay --until 'state.bytes < 0'`.
import { defineAggregate, type Annals, type RecordedEvent } from '../src/index.js'

interface PhotoData { photoId: string, size?: number }

/**
 * The bytes a user's photos take, from their stream: what a photo adds or gives back. A
 * replace or delete says in its metadata how large the photo was before (`previousSize`).
 */
export const Storage = defineAggregate({
  name: 'storage',
  version: 1,
  initial: () => ({ photos: 0, bytes: 0 }),
  evolve: (state: { photos: number, bytes: number }, event: RecordedEvent) => {
    const d = event.data as PhotoData
    const before = (event.metadata.previousSize as number | undefined) ?? 0
    if (event.type === 'PhotoAdded') return { photos: state.photos + 1, bytes: state.bytes + (d.size ?? 0) }
    if (event.type === 'PhotoReplaced') return { ...state, bytes: state.bytes + (d.size ?? 0) - before }
    if (event.type === 'PhotoDeleted') return { photos: state.photos - 1, bytes: state.bytes - before }
    return state
  }
})

/**
 * A new user on a phone with a poor connection: registers, uploads a photo, deletes it; the
 * delete times out and the app sends it again, without an event id and with expected revision
 * 'any', so the store cannot tell it is a retry.
 */
export async function flakyClient (db: Annals, user: string, line: (text?: string) => void): Promise<void> {
  await db.append(user, { type: 'UserRegistered', data: { userId: user, name: 'Flaky', email: `${user}@example.com`, plan: 'free' } }, { expectedRevision: 'no_stream' })
  await db.append(user, { type: 'PhotoAdded', data: { photoId: `${user}-p1`, title: 'Rooftops', camera: 'Pixel 8', size: 2_400_000, tags: [] } }, { expectedRevision: 0 })
  const deleted = { type: 'PhotoDeleted', data: { photoId: `${user}-p1` }, metadata: { previousSize: 2_400_000 } }
  await db.append(user, deleted, { expectedRevision: 1 })
  await new Promise(resolve => setTimeout(resolve, 300)) // the app's timeout
  await db.append(user, deleted, { expectedRevision: 'any' }) // the retry: no id, so not idempotent
  const { state } = await db.load(Storage, user)
  line(`${user}, on a flaky connection, deleted a photo and the app retried it: storage ${state.bytes.toLocaleString('en-US')} bytes`)
  line('  (find the event that did it: see docs/cli.md)')
}
