// The projection most contract tests use, and the plain fold it must agree with: sums per key,
// deletes, ignored noise, over keys that test the UTF-8 byte order.
import { defineProjection, type Annals, type RecordedEvent } from '../../src/index.js'

// keys that test the UTF-8 byte order: NUL and 0x01 (escaped in history keys), prefixes, accents, astral
export const KEYS = ['a', 'ab', 'a\u0000', 'a\u0001z', '\u0000', 'b', 'é', 'z', '😀', 'ß']

export interface Ev { stream: string, type: 'Add' | 'Del' | 'Noise', n: number }

/** The projection under test, as a plain fold: sums per key, deletes, ignored noise. */
export function fold (events: ReadonlyArray<Pick<RecordedEvent, 'type' | 'data' | 'stream'>>): Map<string, number> {
  const view = new Map<string, number>()
  for (const e of events) {
    const { k, n } = e.data as { k: string, n: number }
    if (e.type === 'Add') view.set(k, (view.get(k) ?? 0) + n)
    else if (e.type === 'Del') view.delete(k)
  }
  return view
}

export const handle = async (event: RecordedEvent, view: { get: (k: string) => Promise<number | undefined>, put: (k: string, v: number) => void, del: (k: string) => void }): Promise<void> => {
  const { k, n } = event.data as { k: string, n: number }
  if (event.type === 'Del') {
    view.del(k)
    return
  }
  const before = await view.get(k) ?? 0
  view.put(k, -1) // overwritten below: only the last write of an event counts
  view.put(k, before + n)
}

export const sums = (name: string, mode: 'inline' | 'async', version = 1) =>
  defineProjection<number>({ name, mode, version, types: ['Add', 'Del'], handle })

/** The view as a sorted list, in the order of keys' UTF-8 bytes. */
export function sorted (view: Map<string, number>): Array<[string, number]> {
  return [...view].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}

/** Appends each event on its own, all at once: they share batches, as concurrent callers do. */
export async function appendAll (db: Annals, events: Ev[]): Promise<void> {
  await Promise.all(events.map(async e => await db.append(e.stream, { type: e.type, data: { k: KEYS[e.n % KEYS.length]!, n: e.n } })))
}
