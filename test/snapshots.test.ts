// The snapshot store's key layout: keys parse back into what built them.
import t from 'tap'
import { defineAggregate } from '../src/aggregates/define.js'
import { parseSnapshotKey, snapshotKey, snapshotPrefix } from '../src/aggregates/snapshot-keys.js'

const Count = defineAggregate({ name: 'count', initial: () => 0, evolve: (n: number) => n + 1, snapshotEvery: 3 })
const Other = defineAggregate({ name: 'other', initial: () => 0, evolve: (n: number) => n + 2, snapshotEvery: 2, version: 7 })

t.test('snapshot keys parse into what built them', async t => {
  for (const stream of ['a', 'ab', 'a b', 'user-7', '東京🚀', 'x'.repeat(1024)]) {
    for (const aggregate of [Count, Other]) {
      for (const revision of [0, 1, 255, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
        const key = snapshotKey(snapshotPrefix(stream, aggregate), revision)
        t.same(parseSnapshotKey(key), { stream, name: aggregate.name, version: aggregate.version, fingerprint: aggregate.fingerprint, revision })
      }
    }
  }
  t.equal(parseSnapshotKey(Buffer.from('Nstream')), undefined)
  t.equal(parseSnapshotKey(Buffer.from('L12345678')), undefined)
})
