// The package ships dist/src: every file there must come from a source that still exists. A
// build that left the output of a deleted source behind would publish a module nobody maintains.
import t from 'tap'
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertBuilt } from './helpers/child.js'

const root = fileURLToPath(new URL('..', import.meta.url))

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)])
}

t.test('every built module has its source', async t => {
  assertBuilt()
  const dist = join(root, 'dist')
  const orphans = files(dist)
    .map(f => relative(dist, f))
    .filter(f => /\.(js|d\.ts|js\.map)$/.test(f))
    .filter(f => {
      const stem = f.replace(/\.(js|d\.ts|js\.map)$/, '')
      return !['.ts', '.tsx'].some(ext => existsSync(join(root, stem + ext)))
    })
  t.same(orphans, [], 'no output in dist/ without a source (npm run build starts from an empty dist/)')
})
