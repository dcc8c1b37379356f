// The bytes a command reads from a file or standard input, decompressed when they are gzip's
// (told by its magic bytes, 1f 8b, not by the file's name): `annals import` reads plain
// exports and the compressed archives of `annals archive` alike.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { usage } from './errors.js'

const GZIP_MAGIC = [0x1f, 0x8b]

/**
 * The bytes of `input`, gunzipped when they begin with gzip's magic bytes. `progress` is told
 * how many bytes were read from `input` itself (compressed, where they are). A damaged
 * compressed stream is a usage error.
 *
 * @example
 * ```ts
 * for await (const bytes of inputBytes(createReadStream('archive.jsonl.gz'), n => bar.update(n))) lines.write(bytes)
 * ```
 */
export async function * inputBytes (input: AsyncIterable<Buffer | string>, progress: (bytes: number) => void): AsyncGenerator<Buffer> {
  const raw = input[Symbol.asyncIterator]()
  let read = 0
  const next = async (): Promise<Buffer | undefined> => {
    const r = await raw.next()
    if (r.done === true) return undefined
    const bytes = typeof r.value === 'string' ? Buffer.from(r.value) : r.value
    read += bytes.length
    progress(read)
    return bytes
  }
  // enough bytes to tell
  let head: Buffer = Buffer.alloc(0)
  while (head.length < GZIP_MAGIC.length) {
    const more = await next()
    if (more === undefined) break
    head = head.length === 0 ? more : Buffer.concat([head, more])
  }
  async function * all (): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head
    for (let bytes = await next(); bytes !== undefined; bytes = await next()) yield bytes
  }
  if (head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) {
    yield * all()
    return
  }
  const gunzip = createGunzip()
  const piped = pipeline(Readable.from(all()), gunzip)
  piped.catch(() => {}) // the same error ends the iteration below
  try {
    for await (const bytes of gunzip) yield bytes as Buffer
    await piped
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('Z_')) throw usage(`The input is gzip-compressed but does not decompress: ${(err as Error).message}`)
    throw err
  } finally {
    gunzip.destroy()
  }
}
