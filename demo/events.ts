// The demo's event declarations, release by release (see docs/evolution.md). The photo service
// has had three releases, and its log keeps what each wrote:
//
//   release 1   PhotoUploaded { photoId, title, size }                     version 1
//   release 2   renamed PhotoAdded, with the camera: { ..., camera }       version 2
//   release 3   PhotoAdded with tags: { ..., camera, tags }                version 3
//
// Release 3 reads all of them as PhotoAdded version 3. `annals read ./demo-data --events
// dist/demo/events.js` reads the log as the application does; `--stored` as it is stored.
import type { EventDeclaration, EventShape } from '../src/index.js'

/**
 * PhotoUploaded version 1 to 2: renamed PhotoAdded, which gained the camera (release 1 did not
 * ask for it). The event goes on through PhotoAdded's steps from version 2.
 */
const renamed = (e: EventShape): EventShape => ({ type: 'PhotoAdded', data: { ...e.data, camera: null }, metadata: e.metadata })

/**
 * PhotoAdded version 1: none was ever stored (the type was born at version 2, by the rename),
 * but a step is required for every version; this one says so if it ever meets one, and
 * `annals verify --events` confirms that it never does.
 */
const neverStored = (e: EventShape): EventShape => {
  throw new Error(`no PhotoAdded was stored at version 1 (photo ${String(e.data?.photoId)})`)
}

/**
 * PhotoAdded version 2 to 3: photos gained tags; older ones have none. In place: what a step is
 * given is the read's own (docs/evolution.md, "Speed").
 */
const withTags = (e: EventShape): EventShape => {
  e.data.tags = []
  return e
}

/** Release 2's declarations. */
export const release2: Record<string, EventDeclaration> = {
  PhotoUploaded: { version: 2, upcast: { 1: renamed } },
  PhotoAdded: { version: 2, upcast: { 1: neverStored } }
}

/** Release 3's declarations: the current ones. */
export const events: Record<string, EventDeclaration> = {
  PhotoUploaded: { version: 2, upcast: { 1: renamed } },
  PhotoAdded: { version: 3, upcast: { 1: neverStored, 2: withTags } }
}

export default events
