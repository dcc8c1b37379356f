// How a client proves it may use a database another process holds: the token of the owner
// file (it could read the folder), and, when the owner keeps its subjects' keys under a master
// key, an HMAC of the owner's nonce under that key (it has the master key, which never
// crosses the socket).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AnnalsError } from '../errors.js'

/** A fresh nonce for one connection. */
export function newNonce (): string {
  return randomBytes(24).toString('base64url')
}

/** The proof of a master key for a nonce. */
export function keyProof (masterKey: Uint8Array, nonce: string): Buffer {
  return createHmac('sha256', masterKey).update(`annals client ${nonce}`).digest()
}

/** What a client presents. */
export interface Credentials {
  token: string
  proof: Buffer | null
}

/**
 * Throws unless the credentials are those of a client that may use the database:
 * `ANNALS_ACCESS_DENIED` for a wrong token, `ANNALS_WRONG_KEY` for a master key that is not
 * the owner's (or one given where the owner has none, or none where it has one).
 */
export function checkCredentials (given: Credentials, token: string, masterKey: Uint8Array | undefined, nonce: string): void {
  if (!sameBytes(Buffer.from(String(given.token)), Buffer.from(token))) {
    throw new AnnalsError('ANNALS_ACCESS_DENIED', 'The token is not the owner\'s: this process may not use the database')
  }
  if (masterKey === undefined) {
    if (given.proof !== null) throw new AnnalsError('ANNALS_WRONG_KEY', 'The process that holds the database keeps its keys without a master key: open without one')
    return
  }
  if (given.proof === null) throw new AnnalsError('ANNALS_WRONG_KEY', 'The database\'s keys are wrapped under a master key: give it (masterKey)')
  if (!sameBytes(Buffer.from(given.proof), keyProof(masterKey, nonce))) throw new AnnalsError('ANNALS_WRONG_KEY', 'The master key is not that of the process that holds the database')
}

function sameBytes (a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}
