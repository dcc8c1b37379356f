// Model-test commands that more than one model test runs.
import type fc from 'fast-check'
import type { Annals, OpenOptions } from '../../src/index.js'
import type { Fixture } from './backends.js'

/** Closes the database and opens it again on the same storage. */
export class ReopenCommand<Model extends object> implements fc.AsyncCommand<Model, { fixture: Fixture, db: Annals }> {
  constructor (readonly options?: OpenOptions) {}
  check (): boolean { return true }
  async run (_m: Model, r: { fixture: Fixture, db: Annals }): Promise<void> {
    await r.db.close()
    r.db = await r.fixture.open(this.options)
  }

  toString (): string { return 'reopen' }
}
