// Processes of two versions of the protocol (a deploy: the new version starts while the old
// one drains): this version speaks protocol 2 or 3 with a peer of protocol 2 or 3, either side
// (events' data crossing as maps, the only layout those read), and refuses a peer that speaks
// none of its versions with ANNALS_LOCKED, naming both.
import t, { type Test } from 'tap'
import { createServer, connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { AnnalsError } from '../src/errors.js'
import { open } from '../src/index.js'
import { ClientBackend } from '../src/net/client-backend.js'
import { Connection } from '../src/net/connection.js'
import { readOwner } from '../src/net/paths.js'
import { FrameReader, OLDEST_PROTOCOL, PROTOCOL, decodeError, encodeReady, frame } from '../src/net/wire.js'
import type { ReadyEvent } from '../src/backend/backend.js'
import { encode } from '../src/storage/codec.js'
import { COLUMNS } from '../src/storage/columns.js'
import { eventParts } from '../src/backend/level/event-record.js'
import { decodeRecords } from '../src/net/records.js'
import { unpack } from 'msgpackr'
import { tempDir } from './helpers/backends.js'
import { kill, startChild } from './helpers/child.js'

t.equal(OLDEST_PROTOCOL, 2)
t.equal(PROTOCOL, 4)

const ready = (n: number): ReadyEvent => ({
  id: `e-${n}`, indexed: true, fresh: false, type: 'T', version: 1, tags: undefined, data: encode({ n }), metadata: undefined, sealed: false, digest: undefined
})

/** The first messages an owner sends a raw socket, and what it answers `auth`. */
async function handshake (path: string, auth: (nonce: string) => unknown[]): Promise<unknown[][]> {
  const socket = connect(path)
  const reader = new FrameReader()
  const got: unknown[][] = []
  return await new Promise((resolve, reject) => {
    socket.on('error', reject)
    socket.on('data', chunk => {
      for (const m of reader.push(chunk) as unknown[][]) {
        got.push(m)
        if (m[0] === 'hi') socket.write(frame(auth(m[2] as string)))
        else {
          socket.destroy()
          resolve(got)
        }
      }
    })
  })
}

/** A database held open by a process of this version, and how to reach it. */
async function heldOpen (t: Test): Promise<{ path: string, socket: string, token: string }> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'db')
  const owner = await startChild('hold-open.mjs', [path])
  t.teardown(async () => { await kill(owner) })
  const { socket, token } = readOwner(path)!
  return { path, socket: socket!, token: token! }
}

t.test('this owner and a client of protocol 2', async t => {
  const { path, socket, token } = await heldOpen(t)

  const [hi, answer] = await handshake(socket, () => ['auth', 2, token, null])
  t.same(hi!.slice(0, 2), ['hi', 2], 'the owner says 2 where clients of protocol 2 look')
  t.equal(hi![3], PROTOCOL, 'and its newest after the nonce')
  t.equal(answer![0], 'welcome', 'a client of protocol 2 is admitted')

  for (const version of [1, 5]) {
    const [, refused] = await handshake(socket, () => ['auth', version, token, null])
    t.equal(refused![0], 'refused', `a client of protocol ${version} is refused`)
    const err = decodeError(refused![1] as Parameters<typeof decodeError>[0])
    t.ok(err instanceof AnnalsError && err.code === 'ANNALS_LOCKED', 'with ANNALS_LOCKED')
    t.match(err.message, new RegExp(`protocol ${version}.* 2 to 4`), 'naming both')
  }

  // a client that speaks 2 at most: appends as protocol 2 sends them, reads the log's events (not its records)
  const { connection, welcome } = await Connection.open(socket, token, undefined, 2)
  t.equal(connection.protocol, 2)
  const client = new ClientBackend(connection, welcome, path, undefined)
  t.teardown(async () => { await client.close() })
  for (let n = 0; n < 3; n++) {
    const sent = await connection.request('append', 's', [encodeReady(ready(n)).slice(0, 10)], 'any', null, null)
    t.same(sent, [n, n, [`e-${n}`]])
  }
  // sent again as protocol 2 sends it (not fresh: looked up), it gets the first answer
  t.same(await connection.request('append', 's', [encodeReady(ready(1)).slice(0, 10)], 'any', null, null), [1, 1, ['e-1']])
  const chunks = client.readLog({ from: 0, to: undefined, backwards: false, limit: Infinity })
  const read = [...await chunks.next(), ...await chunks.next()]
  t.same(read.map(e => [e.position, e.id, e.data]), [[0, 'e-0', { n: 0 }], [1, 'e-1', { n: 1 }], [2, 'e-2', { n: 2 }]])

  // and this version's client of the same owner speaks 4
  const db = await open(path)
  t.teardown(async () => { await db.close() })
  t.equal(db.role, 'client')
  t.same((await db.readAll().toArray()).map(e => e.data), [{ n: 0 }, { n: 1 }, { n: 2 }])
})

/** A stand-in owner that says `hi` as given, and records what a client answers. */
async function fakeOwner (t: Test, hi: unknown[]): Promise<{ path: string, auth: Promise<unknown[]> }> {
  const { dir, remove } = tempDir()
  t.teardown(remove)
  const path = join(dir, 'fake.sock')
  let answered!: (m: unknown[]) => void
  const auth = new Promise<unknown[]>(resolve => { answered = resolve })
  const sockets: Socket[] = []
  const server = createServer(socket => {
    sockets.push(socket)
    const reader = new FrameReader()
    socket.on('error', () => {})
    socket.on('data', chunk => {
      for (const m of reader.push(chunk) as unknown[][]) {
        answered(m)
        socket.write(frame(['welcome', -1, 0]))
      }
    })
    socket.write(frame(hi))
  })
  await new Promise<void>(resolve => server.listen(path, resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  return { path, auth }
}

t.test('this client and an owner of protocol 2: it speaks 2', async t => {
  const { path, auth } = await fakeOwner(t, ['hi', 2, 'nonce'])
  const { connection } = await Connection.open(path, 'token', undefined)
  t.teardown(async () => { connection.destroy(); await connection.closed })
  t.equal(connection.protocol, 2)
  t.same(await auth, ['auth', 2, 'token', null])
})

t.test('this client and an owner of protocol 3: it speaks 3, and writes events\' data as maps', async t => {
  const { path, auth } = await fakeOwner(t, ['hi', 2, 'nonce', 3])
  const { connection, welcome } = await Connection.open(path, 'token', undefined)
  t.equal(connection.protocol, 3)
  t.same(await auth, ['auth', 3, 'token', null])
  const client = new ClientBackend(connection, welcome, path, undefined)
  t.teardown(async () => { await client.close() })
  t.equal(client.columns, false, 'an owner of protocol 3 would store the column layout where its version does not read it')
})

t.test('a client of protocol 2 or 3 gets events\' data as maps, the only layout it reads', async t => {
  const { path, socket, token } = await heldOpen(t)
  const db = await open(path)
  t.teardown(async () => { await db.close() })
  t.equal(db.role, 'client')
  const data = [{ n: 0, title: 'columns' }, { n: 1, title: 'columns' }, [2]]
  for (const d of data) await db.append('s', { type: 'T', data: d })

  const range = { from: 0, to: undefined, backwards: false, limit: Infinity }
  const seen = (bytes: Uint8Array[]): void => {
    t.ok(bytes.every(b => b[0] !== COLUMNS), 'no data in the column layout crosses')
    t.same(bytes.map(b => unpack(b)), data, 'and msgpackr alone reads it, as the older version does')
  }
  // protocol 2: the log's events, data as stored bytes
  const two = await Connection.open(socket, token, undefined, 2)
  t.teardown(() => { two.connection.destroy() })
  const [, [events]] = await two.connection.request('readLog', range, null) as [number, [Array<{ data: Uint8Array }>]]
  seen(events.map(e => e.data))
  const [, [streamEvents]] = await two.connection.request('readStream', 's', range) as [number, [Array<{ data: Uint8Array }>]]
  seen(streamEvents.map(e => e.data))
  // protocol 3: the log's records as stored
  const three = await Connection.open(socket, token, undefined, 3)
  t.teardown(() => { three.connection.destroy() })
  const [, records] = await three.connection.request('readLogRecords', range, null) as [number, Uint8Array]
  const buffer = Buffer.from(records.buffer, records.byteOffset, records.length)
  const recorded: Uint8Array[] = []
  for (let at = 0; at < buffer.length;) {
    const end = at + 20 + buffer.readUInt32LE(at + 16)
    recorded.push(eventParts(buffer, at + 20, end).data)
    at = end
  }
  seen(recorded)
  t.same(decodeRecords(records).map(e => [e.position, e.revision, e.stream, e.type, e.data]), data.map((d, i) => [i, i, 's', 'T', d]), 'the records rebuilt read whole')
  // protocol 4 (this version's client): as stored
  const four = await Connection.open(socket, token, undefined, 4)
  t.teardown(() => { four.connection.destroy() })
  const [, [raw]] = await four.connection.request('readLog', range, null) as [number, [Array<{ data: Uint8Array }>]]
  t.equal(raw[0]!.data[0], COLUMNS, 'a client of protocol 4 gets the column layout')
})

t.test('this client and an owner that speaks none of its versions: ANNALS_LOCKED, naming both', async t => {
  const { path } = await fakeOwner(t, ['hi', 5, 'nonce', 6])
  await t.rejects(Connection.open(path, 'token', undefined), { code: 'ANNALS_LOCKED', message: /protocol 5 to 6, this one 2 to 4/ })
})
