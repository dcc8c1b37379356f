// The cipher of personal fields: XChaCha20-Poly1305 (IETF) from libsodium, through
// sodium-native, with a random 192-bit nonce per field (random nonces of that size never
// collide in practice) and additional authenticated data binding the ciphertext to the event it
// was sealed for, the field's path, the subject and the key: a ciphertext moved anywhere else
// fails to open. One synchronous call a field: measured at a third of what node:crypto's
// AES-256-GCM costs through createCipheriv (a stream object, and a context, per field).
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
import sodium from 'sodium-native'
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import { sealedIn, sealedLayout, type Sealed } from './sealed.js'

/** A data subject's key: 32 bytes, and an id telling it from the keys the subject had before. */
export interface SubjectKey {
  /** 8 bytes */
  id: Uint8Array
  /** 32 bytes */
  key: Uint8Array
}

/** Bytes of a field's nonce, and of the tag that follows its ciphertext. */
export const NONCE_BYTES = 24
export const TAG_BYTES = 16
const IV_BYTES = 12

// Random bytes come from a pool filled in one call (one fill per field cost more than the
// cipher), and are copied out of it
let pool = Buffer.alloc(0)
let offset = 0

function random (n: number): Buffer {
  const bytes = Buffer.allocUnsafe(n)
  randomInto(bytes, 0, n)
  return bytes
}

/** Copies `n` random bytes from the pool into `target` at `at`. */
function randomInto (target: Buffer, at: number, n: number): void {
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(48 * 1024))
    offset = 0
  }
  pool.copy(target, at, offset, offset + n)
  offset += n
}

// The additional authenticated data of the field being sealed or opened, written into one
// buffer used again by every call (each is synchronous): this runs for every field
let scratch = Buffer.allocUnsafeSlow(1024)

function aad (eventId: string, path: string, subject: string, keyId: Uint8Array): Buffer {
  // `${eventId}\0${path}\0${subject}\0` as UTF-8, then the key's id; a UTF-16 unit is at most 3 bytes of UTF-8
  const most = 3 * (eventId.length + path.length + subject.length) + 3 + keyId.length
  if (most > scratch.length) scratch = Buffer.allocUnsafeSlow(2 * most)
  const b = scratch
  let i = b.write(eventId, 0, 'utf8')
  b[i++] = 0
  i += b.write(path, i, 'utf8')
  b[i++] = 0
  i += b.write(subject, i, 'utf8')
  b[i++] = 0
  b.set(keyId, i)
  return b.subarray(0, i + keyId.length)
}

const asBuffer = (b: Uint8Array): Buffer => Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/**
 * Seals `value` (any encodable value) as the field at `path` of event `eventId`: the value is
 * encoded, then encrypted in place, in the bytes the sealed value keeps at rest.
 */
export function seal (value: unknown, key: SubjectKey, subject: string, eventId: string, path: string): Sealed {
  const plain = encode(value)
  const { bytes, box } = sealedLayout(subject, key.id, eventId, path, plain.length + TAG_BYTES)
  randomInto(bytes, box - NONCE_BYTES, NONCE_BYTES)
  plain.copy(bytes, box)
  // in place: libsodium allows the ciphertext over the message it encrypts
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(bytes.subarray(box), bytes.subarray(box, box + plain.length), aad(eventId, path, subject, key.id), null, bytes.subarray(box - NONCE_BYTES, box), asBuffer(key.key))
  return sealedIn(bytes, subject, eventId, path, box)
}

/** Opens a sealed value with its subject's key; `ANNALS_CORRUPT` when it was altered or moved. */
export function open (sealed: Sealed, key: SubjectKey): unknown {
  const box = asBuffer(sealed.box)
  const plain = Buffer.allocUnsafe(Math.max(0, box.length - TAG_BYTES))
  try {
    if (sealed.iv.length !== NONCE_BYTES || box.length < TAG_BYTES) throw new Error('a nonce or a box of the wrong size')
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plain, null, box, aad(sealed.eventId, sealed.path, sealed.subject, sealed.keyId), asBuffer(sealed.iv), asBuffer(key.key))
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', `The sealed field '${sealed.path}' of ${sealed.subject} (event ${sealed.eventId}) does not open: it was altered`, { cause: err })
  }
  return decode(plain)
}

/**
 * A keyed digest (BLAKE2b, 16 bytes) of `bytes` under a subject's key: what an idempotent retry
 * of a sealed event is compared by.
 */
export function keyedDigest (bytes: Uint8Array, key: SubjectKey): Buffer {
  const out = Buffer.allocUnsafe(16)
  sodium.crypto_generichash(out, asBuffer(bytes), asBuffer(key.key))
  return out
}

/** Wraps a subject's key under the master key (envelope encryption), bound to the subject. */
export function wrapKey (masterKey: Uint8Array, subject: string, key: SubjectKey): Buffer {
  const iv = random(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv)
  cipher.setAAD(Buffer.concat([Buffer.from(`${subject}\u0000`), key.id]))
  return Buffer.concat([iv, cipher.update(key.key), cipher.final(), cipher.getAuthTag()])
}

/** Unwraps a key wrapped by {@link wrapKey}; throws when the master key is wrong. */
export function unwrapKey (masterKey: Uint8Array, subject: string, id: Uint8Array, wrapped: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(0, IV_BYTES))
  decipher.setAAD(Buffer.concat([Buffer.from(`${subject}\u0000`), id]))
  decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES))
  return Buffer.concat([decipher.update(wrapped.subarray(IV_BYTES, wrapped.length - TAG_BYTES)), decipher.final()])
}
