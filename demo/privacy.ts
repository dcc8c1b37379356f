// The demo's privacy part: a user asks to be forgotten (GDPR erasure).
import type { Annals } from '../src/index.js'

/** Personal fields of the photo service's events, and whose they are. */
export const personalData = {
  UserRegistered: { subject: 'userId', fields: ['name', 'email'] }
}

/** Shreds `user` and shows its registration before and after. */
export async function forgetUser (db: Annals, user: string, line: (text?: string) => void): Promise<void> {
  const [before] = await db.readStream(user, { limit: 1 }).toArray()
  line(`${user} asks to be forgotten. Their registration: ${JSON.stringify(before!.data)}`)
  const start = performance.now()
  await db.shred(user)
  const [after] = await db.readStream(user, { limit: 1 }).toArray()
  line(`  shredded in ${(performance.now() - start).toFixed(1)} ms; now: ${JSON.stringify(after!.data)}, redacted: ${JSON.stringify(after!.redacted)}`)
  line('  their photos stay (they are not personal data here); their name and email are gone for good')
}
