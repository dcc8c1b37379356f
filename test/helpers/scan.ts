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
