// `annals verify`'s checks on a closed database folder, as the tests run them.
import { LevelDoor } from '../../src/backend/level/door.js'
import { verifyStorage, type Report } from '../../src/cli/verify-checks.js'

/** Opens the folder's LevelDB alone (no annals), runs every check of verify, closes it. */
export async function verifyFolder (path: string): Promise<Report> {
  const door = await LevelDoor.openPath(path)
  try {
    return await verifyStorage(door, () => {})
  } finally {
    await door.close()
  }
}
