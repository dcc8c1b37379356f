// How key stores keep subjects' keys at rest: each key as MessagePack [id, key], the key wrapped
// (AES key wrap, cipher.ts) under a master key when there is one, and a check record that tells
// whether the master key given is the one the keys were wrapped under. Shared by the LevelDB
// and PostgreSQL key stores.
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import { unwrapKey, wrapKey, type SubjectKey } from './cipher.js'

const CHECK_TEXT = 'annals master key check'

/** A subject's key as stored: wrapped under `masterKey` when there is one. */
export function packKey (masterKey: Buffer | undefined, subject: string, key: SubjectKey): Buffer {
  return encode([key.id, masterKey === undefined ? key.key : wrapKey(masterKey, subject, key)])
}

/** A subject's key from what {@link packKey} stored. */
export function unpackKey (masterKey: Buffer | undefined, subject: string, value: Buffer): SubjectKey {
  const [id, stored] = decode(value) as [Uint8Array, Uint8Array]
  const key = masterKey === undefined ? Buffer.from(stored) : unwrapKey(masterKey, subject, id, stored)
  return { id: Buffer.from(id), key }
}

/** The check record of a store whose keys are wrapped under `masterKey` (or not wrapped). */
export function checkRecord (masterKey: Buffer | undefined): Buffer {
  if (masterKey === undefined) return encode({})
  return encode({ wrapped: wrapKey(masterKey, CHECK_TEXT, { id: Buffer.alloc(8), key: Buffer.from(CHECK_TEXT.padEnd(32, '.')) }) })
}

/** Fails with ANNALS_WRONG_KEY unless `masterKey` is the one the check record was made with. */
export function verifyCheckRecord (masterKey: Buffer | undefined, stored: Buffer): void {
  const record = decode(stored) as { wrapped?: Uint8Array }
  if (record.wrapped === undefined) {
    if (masterKey !== undefined) {
      throw new AnnalsError('ANNALS_WRONG_KEY', 'These keys are stored without a master key: open without one, then call rotateMasterKey to start using one')
    }
    return
  }
  if (masterKey === undefined) throw new AnnalsError('ANNALS_WRONG_KEY', 'These keys are wrapped under a master key: give it (masterKey)')
  try {
    unwrapKey(masterKey, CHECK_TEXT, Buffer.alloc(8), record.wrapped)
  } catch (err) {
    throw new AnnalsError('ANNALS_WRONG_KEY', 'The master key is wrong', { cause: err })
  }
}

/** A master key as given: 32 bytes; `TypeError` otherwise. */
export function checkMasterKey (masterKey: Uint8Array): Buffer {
  if (!(masterKey instanceof Uint8Array) || masterKey.length !== 32) throw new TypeError('masterKey must be 32 bytes (a Buffer or Uint8Array)')
  return Buffer.from(masterKey)
}
