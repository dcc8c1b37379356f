// The cipher of personal fields: AES-256-GCM from node:crypto, a random 96-bit IV per field, and
// additional authenticated data binding the ciphertext to the event it was sealed for, the
// field's path, the subject and the key: a ciphertext moved anywhere else fails to open.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
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

const IV_BYTES = 12
const TAG_BYTES = 16
// IVs come from a pool filled in one call (one random fill per field cost 1.8 µs); a full pool
// is replaced, not refilled, because sealed values keep views of their IVs
let ivPool = Buffer.alloc(0)
let ivOffset = 0

function nextIv (): Buffer {
  if (ivOffset === ivPool.length) {
    ivPool = randomFillSync(Buffer.allocUnsafeSlow(IV_BYTES * 1024))
    ivOffset = 0
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES)
  ivOffset += IV_BYTES
  return iv
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

/** Seals `value` (any encodable value) as the field at `path` of event `eventId`. */
export function seal (value: unknown, key: SubjectKey, subject: string, eventId: string, path: string): Sealed {
  const iv = nextIv()
  const cipher = createCipheriv('aes-256-gcm', key.key, iv)
  cipher.setAAD(aad(eventId, path, subject, key.id))
  const ciphertext = cipher.update(encode(value))
  cipher.final() // GCM is a stream mode: final() adds no bytes
  return sealedValue(subject, key.id, eventId, path, iv, ciphertext, cipher.getAuthTag())
}

/** Opens a sealed value with its subject's key; `ANNALS_CORRUPT` when it was altered or moved. */
export function open (sealed: Sealed, key: SubjectKey): unknown {
  let plain: Buffer
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.iv)
    decipher.setAAD(aad(sealed.eventId, sealed.path, sealed.subject, sealed.keyId))
    decipher.setAuthTag(sealed.box.subarray(sealed.box.length - TAG_BYTES))
    plain = Buffer.concat([decipher.update(sealed.box.subarray(0, sealed.box.length - TAG_BYTES)), decipher.final()])
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', `The sealed field '${sealed.path}' of ${sealed.subject} (event ${sealed.eventId}) does not open: it was altered`, { cause: err })
  }
  return decode(plain)
}

/** Wraps a subject's key under the master key (envelope encryption), bound to the subject. */
export function wrapKey (masterKey: Uint8Array, subject: string, key: SubjectKey): Buffer {
  const iv = nextIv()
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
