// Inline projections run in the writer of the process that owns the database. On a client of
// another process, one the owner does not run is refused (ANNALS_INLINE_UNAVAILABLE): there the
// contract tests use async projections where inline ones were only a convenience, and tests of
// inline projections themselves check the refusal instead.
import type { Test } from 'tap'
import { defineProjection } from '../../src/index.js'
import type { Backend, Fixture } from '../helpers/backends.js'

/** The mode a test can register its "current" projections in on this backend. */
export function inlineMode (backend: Backend): 'inline' | 'async' {
  return backend.inlineHere === false ? 'async' : 'inline'
}

/**
 * For tests of inline projections themselves: on a backend that cannot run them here, checks
 * that registering one is refused with a code, and says the test is done (true).
 */
export async function inlineRefused (t: Test, backend: Backend, f: Fixture): Promise<boolean> {
  if (backend.inlineHere !== false) return false
  const db = await f.open()
  await t.rejects(db.project(defineProjection({ name: 'inline-here', mode: 'inline', handle: () => {} })), { code: 'ANNALS_INLINE_UNAVAILABLE' },
    'a client cannot run an inline projection the owner does not run')
  await db.close()
  return true
}
