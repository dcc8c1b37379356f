// The cipher of personal fields at rest: what a sealed value's bytes are, and that they stay so.
// Fields sealed by an earlier version must open in this one, so the layout, the additional
// authenticated data and the encoding of the value inside must not change, however sealing is
// made faster.
import t from 'tap'
import fc from 'fast-check'
import sodium from 'sodium-native'
import { open as openSealed, seal, type SubjectKey } from '../src/privacy/cipher.js'
import { Sealed } from '../src/privacy/sealed.js'
import { decode, encode } from '../src/storage/codec.js'

const key: SubjectKey = { id: Buffer.from('0102030405060708', 'hex'), key: Buffer.alloc(32, 7) }

// `{ email: sealed }` as the version before this file sealed it: the value { street: '1 Main St', n: 7 }
// of subject user-7, at path address.street of event 0190aaaa-bbbb-7ccc-8ddd-000000000001
const EARLIER = Buffer.from('de0001a5656d61696cd44100c4850006757365722d37002430313930616161612d626262622d376363632d386464642d303030303030303030303031000e616464726573732e73747265657401020304050607089c68f648de93cb0fd8c71d92c05dd1db2a40f9ac59d3e9f7da902ea1ac0ea4ac37ef710d57c68d678a0e5ae11b51c7d914d649ac89554432bdb28c967879c8', 'hex')

t.test('a field sealed by the earlier version opens, and encodes back to the same bytes', async t => {
  const { email } = decode(EARLIER) as { email: Sealed }
  t.ok(email instanceof Sealed)
  t.same([email.subject, email.eventId, email.path], ['user-7', '0190aaaa-bbbb-7ccc-8ddd-000000000001', 'address.street'])
  t.same(openSealed(email, key), { street: '1 Main St', n: 7 })
  t.same(encode({ email }), EARLIER, 'its bytes at rest are kept, not laid out again')
})

/** What the documentation says a sealed value is: opened here by hand, with libsodium. */
function openByHand (s: Sealed, k: SubjectKey): Buffer {
  const ad = Buffer.concat([Buffer.from(`${s.eventId}\u0000${s.path}\u0000${s.subject}\u0000`), s.keyId])
  const plain = Buffer.alloc(s.box.length - 16)
  sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(plain, null, Buffer.from(s.box), ad, Buffer.from(s.iv), Buffer.from(k.key))
  return plain
}

/** The layout at rest: subject, event id, path (u16 length + UTF-8 each), key id, nonce, box. */
function layout (s: Sealed): Buffer {
  const text = (x: string): Buffer => { const b = Buffer.from(x); const n = Buffer.alloc(2); n.writeUInt16BE(b.length); return Buffer.concat([n, b]) }
  return Buffer.concat([text(s.subject), text(s.eventId), text(s.path), s.keyId, s.iv, s.box])
}

t.test('sealing writes the documented layout, nonce and additional data, with the value as MessagePack', async t => {
  const value = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ maxLength: 40 }), fc.integer(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })))
  const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  fc.assert(fc.property(value, text, text, text, (v, subject, eventId, path) => {
    const s = seal(v, key, subject, eventId, path)
    t.equal(s.iv.length, 24)
    t.same(openByHand(s, key), encode(v))
    t.same(openSealed(s, key), v)
    const record = encode({ f: s })
    const inside = (decode(record) as { f: Sealed }).f
    t.same(layout(inside), layout(s))
    t.same(record.subarray(record.length - layout(s).length), layout(s), 'the extension holds the layout')
  }), { numRuns: 200 })
})

t.test('every field gets its own nonce', async t => {
  const nonces = new Set<string>()
  for (let i = 0; i < 5000; i++) nonces.add(Buffer.from(seal('a', key, 's', 'e', 'p').iv).toString('hex'))
  t.equal(nonces.size, 5000)
})
