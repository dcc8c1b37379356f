// Personal-data declarations are kept in the database, not only in the memory of the process
// that made them: a process that opens the folder without them (a script, a migration, the
// command line, an older deployment) seals the same fields, and never writes them in plain.
//
// What is stored for an event type: the path of its subject (or null, for a function of the
// data, which cannot be stored), and every field ever declared personal for it. Declarations
// merge into what is stored: new fields widen it, a process declaring fewer fields still seals
// them all (a field never becomes plain again), and another subject is a conflict
// (ANNALS_DECLARATION_CONFLICT). A declaration is written durably before any event of its type
// is sealed by it, and before `open` resolves for those given to it.
import { AnnalsError } from '../errors.js'
import { decode, encode } from '../storage/codec.js'
import { Space, namedKey, prefixRange } from '../storage/keys.js'
import type { Storage } from '../storage/storage.js'
import { checkDeclaration, compile, isPath, type Declaration, type SubjectFunction } from './declarations.js'

const DECLARED = 'declared/'

/** What the database keeps of an event type's declaration. */
interface Stored {
  /** the dotted path of the subject's id; null for a function of the data */
  subject: string | null
  /** every field declared personal for the type, in the order first declared */
  fields: readonly string[]
}

/** The declarations in force: those stored in the database, merged with this process's. */
export class Declarations {
  readonly #storage: Storage
  readonly #stored = new Map<string, Stored>()
  /** subject functions this process was given, by type */
  readonly #functions = new Map<string, SubjectFunction>()
  readonly #inForce = new Map<string, Declaration>()
  /** declarations not yet written, by type */
  readonly #unsaved = new Map<string, Stored>()
  #saving: Promise<void> | undefined

  private constructor (storage: Storage) {
    this.#storage = storage
  }

  /** The declarations stored in the database; `ANNALS_CORRUPT` when one does not decode. */
  static async load (storage: Storage): Promise<Declarations> {
    const declarations = new Declarations(storage)
    const prefix = namedKey(Space.privacy, DECLARED)
    const it = storage.entries(prefixRange(prefix))
    try {
      for (let chunk = await it.nextv(256); chunk.length > 0; chunk = await it.nextv(256)) {
        for (const [key, value] of chunk) {
          const type = key.subarray(prefix.length).toString('utf8')
          declarations.#apply(type, parse(type, value))
        }
      }
    } finally {
      await it.close()
    }
    return declarations
  }

  /** Whether events of the type are sealed. */
  has (type: string): boolean {
    return this.#inForce.has(type)
  }

  /** The declaration in force for the type. */
  get (type: string): Declaration | undefined {
    return this.#inForce.get(type)
  }

  /** Whether some declaration is still to be written. */
  get unsaved (): boolean {
    return this.#unsaved.size > 0
  }

  /**
   * Merges declarations (event type, `{ subject, fields }`) into those in force, all or none:
   * `TypeError` on misuse, `ANNALS_DECLARATION_CONFLICT` when one names another subject than
   * the one stored for its type. What changed starts being written at once (see {@link saved}).
   */
  declare (specs: ReadonlyArray<readonly [unknown, unknown]>): void {
    const merged = new Map<string, { stored: Stored, read: SubjectFunction | undefined }>()
    for (const [t, s] of specs) {
      const { type, subject, fields } = checkDeclaration(t, s)
      const current = merged.get(type)?.stored ?? this.#stored.get(type)
      const path = typeof subject === 'string' ? subject : null
      if (current !== undefined && current.subject !== path) throw conflict(type, current.subject, path)
      const all = current === undefined ? fields : [...current.fields, ...fields.filter(f => !current.fields.includes(f))]
      merged.set(type, { stored: { subject: path, fields: all }, read: typeof subject === 'function' ? subject : undefined })
    }
    let changed = false
    for (const [type, { stored, read }] of merged) {
      if (read !== undefined) this.#functions.set(type, read)
      const before = this.#stored.get(type)
      if (before === undefined || before.fields.length !== stored.fields.length) {
        this.#unsaved.set(type, stored)
        changed = true
      }
      this.#apply(type, stored)
    }
    if (changed) void this.#save().catch(() => {}) // a failure is reported by saved()
  }

  /**
   * Resolves once every declaration made so far is stored, durably; rejects with the storage's
   * error when it cannot be (it is tried again on the next call).
   */
  async saved (): Promise<void> {
    try {
      await this.#saving
    } catch {
      // tried again below
    }
    if (this.#unsaved.size > 0) await this.#save()
  }

  #apply (type: string, stored: Stored): void {
    this.#stored.set(type, stored)
    this.#inForce.set(type, compile(stored.subject, this.#functions.get(type), stored.fields))
  }

  /** Writes what is unsaved, after the writes before it, in one batch with an fsync. */
  async #save (): Promise<void> {
    const previous = this.#saving
    const saving = (async () => {
      await previous?.catch(() => {})
      const entries = [...this.#unsaved]
      if (entries.length === 0) return
      await this.#storage.write(entries.map(([type, stored]) => ({
        key: namedKey(Space.privacy, DECLARED + type),
        value: encode({ subject: stored.subject, fields: stored.fields })
      })), true)
      for (const [type, stored] of entries) if (this.#unsaved.get(type) === stored) this.#unsaved.delete(type)
    })()
    this.#saving = saving
    await saving
  }
}

/** A stored declaration, decoded and checked. */
function parse (type: string, value: Buffer): Stored {
  let record: unknown
  try {
    record = decode(value)
  } catch (err) {
    throw new AnnalsError('ANNALS_CORRUPT', `The stored personal-data declaration of '${type}' does not decode`, { cause: err })
  }
  const plain = typeof record === 'object' && record !== null && Object.getPrototypeOf(record) === Object.prototype
  const { subject, fields, ...rest } = (plain ? record : {}) as Record<string, unknown>
  if (Object.keys(rest).length > 0) {
    throw new AnnalsError('ANNALS_UNSUPPORTED_FORMAT', `The stored personal-data declaration of '${type}' was written by a newer annals (it has ${Object.keys(rest).join(', ')})`)
  }
  if (!(subject === null || (typeof subject === 'string' && subject.length > 0)) || !Array.isArray(fields) || fields.length === 0 || !fields.every(isPath)) {
    throw new AnnalsError('ANNALS_CORRUPT', `The stored personal-data declaration of '${type}' is malformed`)
  }
  return { subject, fields: fields as string[] }
}

function conflict (type: string, stored: string | null, given: string | null): AnnalsError {
  const name = (subject: string | null): string => subject === null ? 'a function of the data' : `'${subject}'`
  return new AnnalsError('ANNALS_DECLARATION_CONFLICT',
    `The personal data of '${type}' is stored with the subject ${name(stored)}, and declared here with ${name(given)}: ` +
    'the subject of a type cannot change (shreds would miss events sealed under the other); declare a new event type')
}
