// Small helpers for the benchmarks: timing, medians, fresh databases, the events they write.
import { rmSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

export const BENCH_DIR = join(process.cwd(), 'bench-data')

/** A fresh empty folder for one database of one run. */
export function freshDir (name: string): string {
  const dir = join(BENCH_DIR, name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(BENCH_DIR, { recursive: true })
  return dir
}

/** A raw classic-level database with buffer keys and values: the baseline. */
export async function rawLevel (name: string): Promise<ClassicLevel<Buffer, Buffer>> {
  const db = new ClassicLevel<Buffer, Buffer>(freshDir(name), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  return db
}

/** 8-byte big-endian key, as the raw baseline stores events. */
export function key8 (n: number): Buffer {
  const key = Buffer.allocUnsafe(8)
  key.writeUInt32BE(Math.floor(n / 0x100000000), 0)
  key.writeUInt32BE(n >>> 0, 4)
  return key
}

/** A photo-service event of about 250 bytes encoded, for user `i % streams`. */
export function sampleEvent (i: number, streams: number): { stream: string, type: string, data: Record<string, unknown> } {
  const user = i % streams
  return {
    stream: `user-${user}`,
    type: 'PhotoAdded',
    data: {
      photoId: `photo-${i}`,
      userId: `user-${user}`,
      title: `Sunset over the dunes, take ${i % 97}`,
      camera: 'Fujifilm X-T4',
      size: 2_400_000 + i % 100_000,
      width: 6240,
      height: 4160,
      takenAt: 1_700_000_000_000 + i * 1000,
      tags: ['travel', 'desert', 'sunset'],
      url: `https://photos.example.com/u/${user}/p/${i}.jpg`
    }
  }
}

/** Runs `fn` and returns its duration in ms. */
export async function time (fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs `count` calls of `fn(i)` with `concurrency` of them in flight at once. */
export async function concurrently (count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  async function worker (): Promise<void> {
    while (next < count) await fn(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
}
