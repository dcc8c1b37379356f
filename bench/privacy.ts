// Workloads of crypto-shredding: the cost of sealing personal fields on append (annals against
// annals: the same events with none declared personal), and how long a shred takes as the
// database grows (annals alone: there is nothing raw to compare it with), in a database built
// beforehand by another process.
import { defineAggregate, defineProjection, open, type Annals } from '../src/index.js'
import type { Config } from './options.js'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BENCH_DIR, concurrently, eventMaker, freshDir, inBatches, key8, median, onRaw, type SampleEvent, type Shape } from './lib.js'
import type { Timing, Workload } from './measure.js'
import { rawValue } from './appends.js'
import { createCipheriv, randomBytes, randomFillSync } from 'node:crypto'
import { pack } from 'msgpackr'

const NAMES = ['email', 'name', 'street', 'city', 'phone', 'birthDate']

/** The personal fields of a shape: email, name, street… then personal7, personal8… */
const personalFields = (shape: Shape): string[] =>
  Array.from({ length: shape.personalFields }, (_, k) => NAMES[k] ?? `personal${k + 1}`)

const personalData = (shape: Shape): Record<string, { subject: string, fields: string[] }> =>
  ({ UserRegistered: { subject: 'userId', fields: personalFields(shape) } })

/** A registration: the shape's event with its personal fields, of subject `userId`. */
function registrations (shape: Shape): (i: number, userId?: string) => SampleEvent {
  const event = eventMaker(shape)
  const fields = personalFields(shape)
  return (i, userId) => {
    const e = event(i)
    const user = i % shape.streams
    const data: Record<string, unknown> = { ...e.data, userId: userId ?? `user-${user}` }
    fields.forEach((field, k) => { data[field] = field === 'email' ? `user${user}@example.com` : `Ada Lovelace ${user}, ${k}` })
    return { stream: e.stream, type: 'UserRegistered', data }
  }
}

/** Appends with the shape's personal fields, beside the same appends with none declared personal. */
export function privacyWorkloads (config: Config): Workload[] {
  const registration = registrations(config.shape)
  const { appends } = config.sizes
  const run = (personal: boolean) => async (): Promise<Timing> => {
    const db = await open(freshDir(personal ? 'v-personal' : 'v-plain'), personal ? { personalData: personalData(config.shape) } : {})
    try {
      const start = performance.now()
      await concurrently(appends, 64, async i => {
        const e = registration(i)
        await db.append(e.stream, { type: e.type, data: e.data })
      })
      return { events: appends, ms: performance.now() - start }
    } finally { await db.close() }
  }
  // The least sealing can cost: raw classic-level batches of 64 registrations, with their
  // personal fields sealed by node:crypto (AES-256-GCM, an IV and authenticated data per field)
  // and nothing else annals does, beside the same batches with the fields as they are.
  const fields = personalFields(config.shape)
  const key = randomBytes(32)
  // IVs from a pool filled in one call, as annals does (a random fill per field costs more than the cipher)
  const ivs = randomFillSync(Buffer.allocUnsafe(12 * 4096))
  let iv = ivs.length
  const rawBatches = (sealed: boolean) => onRaw(sealed ? 'v-raw-sealed' : 'v-raw-plain', appends, async raw => {
    await inBatches(raw, appends, 64, (batch, j) => {
      const e = registration(j)
      if (sealed) {
        for (const field of fields) {
          if (iv === ivs.length) { randomFillSync(ivs); iv = 0 }
          const cipher = createCipheriv('aes-256-gcm', key, ivs.subarray(iv, iv += 12))
          cipher.setAAD(Buffer.from(`${j}\u0000${field}\u0000${String(e.data.userId)}`))
          const box = cipher.update(pack(e.data[field]))
          cipher.final()
          e.data[field] = Buffer.concat([ivs.subarray(iv - 12, iv), box, cipher.getAuthTag()])
        }
      }
      batch.put(key8(j), rawValue(e, j))
    })
  })
  const n = config.shape.personalFields
  return [{
    name: `append 1 event with ${n} personal field${n === 1 ? '' : 's'}, 64 concurrent`,
    unit: 'events',
    raw: 'the same, none personal (annals)',
    target: 0.6,
    annals: run(true),
    baseline: run(false)
  }, {
    name: `raw classic-level: batches of 64 events, ${n} field${n === 1 ? '' : 's'} of each sealed by node:crypto`,
    unit: 'events',
    raw: 'the events alone',
    annals: rawBatches(true),
    baseline: rawBatches(false)
  }]
}

/** A view that copies a personal field, as an address book would. */
const Contacts = defineProjection<{ email: unknown }>({
  name: 'contacts', mode: 'inline', types: ['UserRegistered'],
  handle (event, view) { view.put(String(event.data.userId), { email: event.data.email }) }
})

/** An aggregate whose state copies a personal field, with snapshots. */
const Profile = defineAggregate({
  name: 'profile', snapshotEvery: 100,
  initial: () => ({ events: 0, email: null as unknown }),
  evolve: (s, e) => ({ events: s.events + 1, email: e.type === 'UserRegistered' ? e.data.email : s.email })
})

/**
 * Writes the database a shred is timed in: `events` events, every tenth a registration of a
 * subject of its own, with a view that copies personal fields (inline, with history) and
 * snapshots of every stream.
 */
export async function buildShredLog (config: Config, events: number): Promise<void> {
  const { shape } = config
  const event = eventMaker(shape)
  const registration = registrations(shape)
  const db = await open(freshDir(`shred-${events}`), { personalData: personalData(shape) })
  try {
    await db.project(Contacts)
    for (let i = 0; i < events; i += 1000) {
      const appends: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(i + 1000, events); j += 100) {
        const batch = []
        for (let k = j; k < Math.min(j + 100, events); k++) {
          const e = k % 10 === 0 ? registration(k, `subject-${k / 10}`) : event(k)
          batch.push({ type: e.type, data: e.data })
        }
        appends.push(db.append(`user-${(j / 100) % shape.streams}`, batch))
      }
      await Promise.all(appends)
    }
    for (let u = 0; u < Math.min(shape.streams, Math.ceil(events / 100)); u++) await db.load(Profile, `user-${u}`)
  } finally { await db.close() }
}

/** Shredding one subject in the database {@link buildShredLog} wrote: timed shred by shred, a different subject each time. */
export async function shredWorkload (config: Config, events: number): Promise<{ workloads: Workload[], close: () => Promise<void> }> {
  const db: Annals = await open(join(BENCH_DIR, `shred-${events}`), { personalData: personalData(config.shape) })
  await db.project(Contacts)
  const subjects = Math.ceil(events / 10)
  let shredded = 0
  return {
    workloads: [{
      name: 'shred one subject (with a view and snapshots)',
      series: 'shred',
      logEvents: events,
      unit: 'ops',
      annals: async () => {
        const each: number[] = []
        for (let n = 0; n < config.sizes.shreds; n++) {
          // 7919 is prime: a different subject each time, spread over the log
          const subject = `subject-${(shredded++ * 7919) % subjects}`
          const start = performance.now()
          await db.shred(subject)
          each.push(performance.now() - start)
        }
        return { events: each.length, ms: each.reduce((a, b) => a + b, 0), medianMs: median(each) }
      }
    }],
    close: async () => {
      await db.close()
      rmSync(join(BENCH_DIR, `shred-${events}`), { recursive: true, force: true })
    }
  }
}
