// The binary arrays the PostgreSQL writer sends (src/backend/postgres/binary-arrays.ts): what the
// server reads from each is exactly the array it was made of, nulls, empty arrays, UTF-8 and the
// extremes of each integer type included. Checked against the server's own reading of the same
// values sent as text (node-postgres' array literals). Skipped with the reason where there is no server.
import t from 'tap'
import fc from 'fast-check'
import pg from 'pg'
import { boolArray, byteaArray, int4Array, int8Array, textArray } from '../src/backend/postgres/binary-arrays.js'
import { postgresServer, stopPostgres } from './helpers/backends.js'

const server = await postgresServer()
const skip = server.skip ?? false
if (server.skip !== undefined) t.comment(`PostgreSQL tests skipped: ${server.skip}`)
t.teardown(stopPostgres)

/** What the server reads from `binary` and from `text` (the same array), each as its text form. */
async function both (client: pg.Client, type: string, binary: Buffer, text: unknown[]): Promise<[string, string]> {
  const rows = (await client.query<{ b: string, t: string }>(`select $1::${type}::text as b, $2::${type}::text as t`, [binary, text])).rows
  return [rows[0]!.b, rows[0]!.t]
}

const text = fc.string({ unit: 'grapheme' }).filter(s => !s.includes('\u0000'))
const cases = {
  'bytea[]': { make: byteaArray, values: fc.array(fc.option(fc.uint8Array({ maxLength: 40 }).map(a => Buffer.from(a)), { nil: null })) },
  'text[]': { make: textArray, values: fc.array(fc.option(text, { nil: null })) },
  'bigint[]': { make: int8Array, values: fc.array(fc.maxSafeInteger()) },
  'integer[]': { make: int4Array, values: fc.array(fc.integer()) },
  'boolean[]': { make: boolArray, values: fc.array(fc.boolean()) }
} as const

t.test('each binary array reads as the same array sent as text', { skip }, async t => {
  const client = new pg.Client({ connectionString: server.url })
  await client.connect()
  t.teardown(async () => { await client.end() })
  for (const [type, { make, values }] of Object.entries(cases)) {
    const edges: unknown[][] = type === 'bigint[]'
      ? [[], [0, -1, 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 4294967296, -4294967296, 4294967295]]
      : type === 'integer[]' ? [[], [0, -1, 2147483647, -2147483648]] : [[]]
    for (const edge of edges) {
      const [b, s] = await both(client, type, (make as (v: unknown[]) => Buffer)(edge), edge)
      t.equal(b, s, `${type} ${JSON.stringify(edge)}`)
    }
    let runs = 0
    await fc.assert(fc.asyncProperty(values as fc.Arbitrary<unknown[]>, async list => {
      runs++
      const [b, s] = await both(client, type, (make as (v: unknown[]) => Buffer)(list), list)
      return b === s
    }), { numRuns: 100 })
    t.equal(runs, 100, `${type}: 100 random arrays read the same`)
  }
})
