// Scans every file under a folder for byte strings, the way an investigator would, with
// LevelDB's log files (write-ahead logs and MANIFESTs) de-framed first: a log splits records
// into 32 KiB blocks with a 7-byte header per fragment, which could cut a needle in two.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const BLOCK = 32768
const HEADER = 7

/** The payloads of a LevelDB log file, fragments joined into records. */
export function deframe (bytes: Buffer): Buffer {
  const out: Buffer[] = []
  let record: Buffer[] = []
  for (let block = 0; block < bytes.length; block += BLOCK) {
    let i = block
    const end = Math.min(block + BLOCK, bytes.length)
    while (i + HEADER <= end) {
      const length = bytes.readUInt16LE(i + 4)
      const type = bytes[i + 6]
      if (type === 0 && length === 0) break // zero padding to the end of the block
      const data = bytes.subarray(i + HEADER, Math.min(i + HEADER + length, end))
      record.push(data)
      if (type === 1 || type === 4) { // FULL or LAST
        out.push(Buffer.concat(record))
        record = []
      }
      i += HEADER + length
    }
  }
  if (record.length > 0) out.push(Buffer.concat(record))
  return Buffer.concat(out)
}

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

/** Which of `needles` (by label) appear in which files under `dir`. */
export function scan (dir: string, needles: Record<string, Buffer>): Array<{ needle: string, file: string }> {
  const found: Array<{ needle: string, file: string }> = []
  for (const file of files(dir)) {
    const raw = readFileSync(file)
    const name = file.slice(file.lastIndexOf('/') + 1)
    const views = name.endsWith('.log') || name.startsWith('MANIFEST') ? [raw, deframe(raw)] : [raw]
    for (const [label, needle] of Object.entries(needles)) {
      if (views.some(v => v.includes(needle))) found.push({ needle: label, file: file.slice(dir.length + 1) })
    }
  }
  return found
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
/** The part of a marker the scan looks for, and the margin on each side of it. */
const CORE = 24
const MARGIN = 3
const MARKER_LENGTH = CORE + 2 * MARGIN
/** Every 4 bytes of every marker made in this process. */
const used = new Set<string>()

/**
 * A random string of letters and digits, to put in an event's data and look for in the files
 * ({@link scanMarkers}). Snappy (LevelDB's compression of table files) writes a repeat of 4 bytes
 * or more as a copy of earlier bytes, which would hide a marker; so no 4 bytes of a marker occur
 * twice in it or in any other marker made in this process, nor are they all hex digits (as ids
 * are). A copy can still take up to 3 of its first or last characters along with the bytes
 * around it (which repeat from event to event): the scan looks for the marker without them. Its
 * middle is then written as it is, at least once, in every compressed block that holds it.
 */
export function marker (): string {
  for (;;) {
    let s = ''
    for (let i = 0; i < MARKER_LENGTH; i++) s += ALPHABET[Math.floor(Math.random() * ALPHABET.length)]
    const grams = Array.from({ length: MARKER_LENGTH - 3 }, (_, i) => s.slice(i, i + 4))
    if (new Set(grams).size < grams.length || grams.some(g => used.has(g) || /^[0-9a-f]{4}$/.test(g))) continue
    for (const g of grams) used.add(g)
    return s
  }
}

/**
 * Which of `markers` (made by {@link marker}) appear in any file under `dir` (LevelDB's logs
 * de-framed too), by their middle. Every run of letters and digits long enough is looked up,
 * window by window: one pass over each file, however many markers.
 */
export function scanMarkers (dir: string, markers: ReadonlySet<string>): Set<string> {
  const cores = new Map([...markers].map(m => [m.slice(MARGIN, MARGIN + CORE), m]))
  const found = new Set<string>()
  const run = new RegExp(`[A-Za-z0-9]{${CORE},}`, 'g')
  for (const file of files(dir)) {
    const raw = readFileSync(file)
    const name = file.slice(file.lastIndexOf('/') + 1)
    const views = name.endsWith('.log') || name.startsWith('MANIFEST') ? [raw, deframe(raw)] : [raw]
    for (const view of views) {
      for (const m of view.toString('latin1').matchAll(run)) {
        const text = m[0]
        for (let i = 0; i + CORE <= text.length; i++) {
          const m = cores.get(text.slice(i, i + CORE))
          if (m !== undefined) found.add(m)
        }
      }
    }
  }
  return found
}
