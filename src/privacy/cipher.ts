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
import { sealedValue, type Sealed } from './sealed.js'

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
// cipher); a used pool is replaced, not refilled, because sealed values keep views of it
let pool = Buffer.alloc(0)
let offset = 0

function random (n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(48 * 1024))
    offset = 0
  }
  const bytes = pool.subarray(offset, offset + n)
  offset += n
  return bytes
}

function aad (eventId: string, path: string, subject: string, keyId: Uint8Array): Buffer {
  // one allocation: this runs for every field sealed or opened
  const text = `${eventId}\u0000${path}\u0000${subject}\u0000`
  const length = Buffer.byteLength(text)
  const bytes = Buffer.allocUnsafe(length + keyId.length)
  bytes.write(text, 0, 'utf8')
  bytes.set(keyId, length)
  return bytes
}

const asBuffer = (b: Uint8Array): Buffer => Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/** Seals `value` (any encodable value) as the field at `path` of event `eventId`. */
export function seal (value: unknown, key: SubjectKey, subject: string, eventId: string, path: string): Sealed {
  const nonce = random(NONCE_BYTES)
  const plain = encode(value)
  const box = Buffer.allocUnsafe(plain.length + TAG_BYTES)
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(box, plain, aad(eventId, path, subject, key.id), null, nonce, asBuffer(key.key))
  return sealedValue(subject, key.id, eventId, path, nonce, box)
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
