// The protocol's encodings (src/net/wire.ts), between peers of this version and of the one
// before: an event to append crosses with whether it is fresh (sent for the first time, so
// the owner does not look its id up), and one from a peer that does not say is not fresh; the
// log's records (protocol 3) fail a read with ANNALS_CORRUPT when they do not read.
import t from 'tap'
import type { ReadyEvent } from '../src/backend/backend.js'
import { decode, encode } from '../src/storage/codec.js'
import { decodeReady, encodeReady, type WireReady } from '../src/net/wire.js'
import { decodeRecords, encodeRecords } from '../src/net/records.js'

const ready = (fresh: boolean): ReadyEvent => ({
  id: '0b7b8c3e-3f0a-4d7e-9b1c-2a6f4e8d9c10', indexed: true, fresh, type: 'T', version: 1, tags: ['a'],
  data: Buffer.from([0x81, 0xa1, 0x6e, 0x01]), metadata: undefined, sealed: false, digest: undefined
})

/** Through the codec, as it crosses the socket. */
const cross = (w: WireReady): WireReady => decode(encode(w)) as WireReady

t.test('an event crosses as fresh or not, as it was sent', async t => {
  for (const fresh of [true, false]) {
    const back = decodeReady(cross(encodeReady(ready(fresh))))
    t.equal(back.fresh, fresh, `fresh: ${String(fresh)}`)
    t.same({ ...back, data: [...back.data] }, { ...ready(fresh), data: [...ready(fresh).data], metadata: undefined, digest: undefined })
  }
})

t.test('an event from a peer that does not say whether it is fresh is not: its id is looked up', async t => {
  const before = encodeReady(ready(true)).slice(0, 10) as WireReady
  t.equal(decodeReady(cross(before)).fresh, false)
})

t.test('records that do not read fail the client\'s read with ANNALS_CORRUPT', async t => {
  const garbage = encodeRecords([{ position: 7, time: 1, bytes: Buffer.from([0xff, 0x00, 0x01]) }])
  t.throws(() => decodeRecords(garbage), { code: 'ANNALS_CORRUPT', message: /position 7/ }, 'bytes that are no event')
  t.throws(() => decodeRecords(garbage.subarray(0, garbage.length - 1)), { code: 'ANNALS_CORRUPT' }, 'an answer that ends inside a record')
  t.throws(() => decodeRecords(garbage.subarray(0, 5)), { code: 'ANNALS_CORRUPT' }, 'an answer that ends inside a record\'s head')
  t.same(decodeRecords(encodeRecords([])), [], 'no records: no events')
})
