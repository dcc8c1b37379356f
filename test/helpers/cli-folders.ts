// The databases the command-line tests run on, each made once before a file's tests and removed
// after them: the same folder for the files that split one command's tests between them.
import { join } from 'node:path'
import type { Test } from 'tap'
import { open } from '../../src/index.js'
import { tempDir } from './backends.js'

/** A folder made for a file's tests: `dir` the database, `root` the folder around it (for the files the tests write). */
export interface CliFolder {
  root: string
  dir: string
  personalData: Record<string, { subject: string, fields: string[] }>
}

/**
 * Accounts: account-1 (Opened with a date and metadata, Deposited, Withdrawn with the id
 * withdrawal-1), account-2, user-7 with a personal email; a durable subscription `mailer` that
 * handled the first two events.
 */
export function accountsFolder (t: Test): CliFolder {
  const folder = made(t, 'annals-cli-', { UserRegistered: { subject: 'userId', fields: ['email'] } })
  t.before(async () => {
    const db = await open(folder.dir, { personalData: folder.personalData })
    await db.append('account-1', [
      { type: 'Opened', data: { owner: 'Ada', at: new Date('2024-05-01T10:00:00Z') }, metadata: { by: 'clerk-3' } },
      { type: 'Deposited', data: { amount: 100 } }
    ])
    await db.append('account-2', { type: 'Opened', data: { owner: 'Grace' } })
    await db.append('account-1', { type: 'Withdrawn', data: { amount: 30 }, id: 'withdrawal-1' })
    await db.append('user-7', { type: 'UserRegistered', data: { userId: 'user-7', email: 'ada@example.com' } })
    let seen = 0
    const sub = db.subscribe({ name: 'mailer' }, () => { if (++seen === 2) void sub.close() })
    while (seen < 2) await new Promise(resolve => setTimeout(resolve, 5))
    await sub.close()
    await db.close()
  })
  return folder
}

/**
 * Awkward values for export and import: two users with personal fields (one nested), user-2
 * shredded; events with dates, bytes, a bigint, NaN, undefined, a `$date` look-alike, metadata;
 * 40 steps over 4 streams. `then` runs after it is made, before the tests.
 */
export function awkwardFolder (t: Test, then?: (folder: CliFolder) => Promise<void>): CliFolder {
  const folder = made(t, 'annals-cli-export-', { UserRegistered: { subject: 'userId', fields: ['email', 'address.street'] } })
  t.before(async () => {
    const db = await open(folder.dir, { personalData: folder.personalData })
    await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'a@example.com', address: { street: '1 Main St', city: 'Turin' } } })
    await db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'b@example.com', address: { street: '2 Main St', city: 'Rome' } } })
    await db.append('odd', [
      { type: 'Odd', id: 'odd-1', data: { when: new Date(86400000), bytes: Buffer.from([0, 1, 255]), big: -(2n ** 63n), nan: NaN, nothing: undefined, tag: { $date: 'mine' } }, metadata: { correlation: 'c-1', nested: { n: 1 } } },
      { type: 'Plain', data: 'a string' },
      { type: 'Empty' }
    ])
    for (let i = 0; i < 40; i++) await db.append(`s-${i % 4}`, { type: 'Step', data: { i } })
    await db.shred('user-2')
    await db.close()
    await then?.(folder)
  })
  return folder
}

function made (t: Test, prefix: string, personalData: CliFolder['personalData']): CliFolder {
  const { dir: root, remove } = tempDir(prefix)
  t.teardown(remove)
  return { root, dir: join(root, 'db'), personalData }
}

/** Asserts that `text` has no colour codes (the command ran without a terminal). */
export function noColour (t: Test, text: string): void {
  t.notMatch(text, /\x1b\[/, 'no colour without a terminal')
}
