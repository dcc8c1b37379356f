// Workloads of crypto-shredding: the cost of sealing personal fields on append, and how long a
// shred takes as the database grows.
import { defineAggregate, defineProjection, open, type Annals } from '../src/index.js'
import { concurrently, freshDir, median, sampleEvent } from './lib.js'
import type { Sizes, Timing, Workload } from './log.js'

const personalData = { UserRegistered: { subject: 'userId', fields: ['email', 'name'] } }

/**
 * An event with two personal fields of user `i % streams` (or the same fields, not declared
 * personal), about 250 bytes like the log's sample events.
 */
function registration (i: number, streams: number): { stream: string, type: string, data: Record<string, unknown> } {
  const e = sampleEvent(i, streams)
  return { stream: e.stream, type: 'UserRegistered', data: { ...e.data, email: `user${i % streams}@example.com`, name: `Ada Lovelace ${i % streams}` } }
}

async function appendAll (db: Annals, s: Sizes): Promise<Timing> {
  const start = performance.now()
  await concurrently(s.events, 64, async i => {
    const e = registration(i, s.streams)
    await db.append(e.stream, { type: e.type, data: e.data })
  })
  return { events: s.events, ms: performance.now() - start }
}

/** Appends with two personal fields, beside the same appends with none declared personal. */
export function privacyWorkloads (s: Sizes): Workload[] {
  return [{
    name: 'append 1 event with 2 personal fields, 64 concurrent',
    raw: 'the same, no personal fields (annals)',
    target: 0.6,
    annals: async () => {
      const db = await open(freshDir('p-personal'), { personalData })
      try { return await appendAll(db, s) } finally { await db.close() }
    },
    baseline: async () => {
      const db = await open(freshDir('p-plain'))
      try { return await appendAll(db, s) } finally { await db.close() }
    }
  }]
}

/** A view that copies personal fields, as an address book would. */
const Contacts = defineProjection<{ email: unknown }>({
  name: 'contacts', mode: 'inline', types: ['UserRegistered'],
  handle (event, view) { view.put(String(event.data.userId), { email: event.data.email }) }
})

/** An aggregate whose state copies personal fields, with snapshots. */
const Profile = defineAggregate({
  name: 'profile', snapshotEvery: 100,
  initial: () => ({ events: 0, email: null as unknown }),
  evolve: (s, e) => ({ events: s.events + 1, email: e.type === 'UserRegistered' ? e.data.email : s.email })
})

/**
 * The median time of shredding one subject in a database of `events` events, every tenth a
 * registration with personal fields of one of `events / 10` subjects, with a view that copies
 * them (inline, with history) and snapshots of every stream.
 */
export async function shredTime (events: number, shreds: number): Promise<number> {
  const db = await open(freshDir(`shred-${events}`), { personalData })
  try {
    await db.project(Contacts)
    for (let i = 0; i < events; i += 1000) {
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j += 100) {
        const batch = []
        for (let k = j; k < Math.min(j + 100, events); k++) {
          const e = k % 10 === 0 ? registration(k, 1000) : sampleEvent(k, 1000)
          batch.push({ type: e.type, data: k % 10 === 0 ? { ...e.data, userId: `subject-${k}` } : e.data })
        }
        appends.push(db.append(`user-${(j / 100) % 1000}`, batch))
      }
      await Promise.all(appends)
    }
    for (let u = 0; u < 1000; u++) await db.load(Profile, `user-${u}`)
    const times: number[] = []
    for (let n = 0; n < shreds; n++) {
      const start = performance.now()
      await db.shred(`subject-${n * 10 * Math.max(1, Math.floor(events / 10 / shreds))}`)
      times.push(performance.now() - start)
    }
    return median(times)
  } finally {
    await db.close()
  }
}
