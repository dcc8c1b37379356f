// A database for the tests of `annals ui`, served in this process, and plain HTTP requests to it
// (node:http, so that any Host, method and header can be sent).
import { request } from 'node:http'
import { join } from 'node:path'
import { defineAggregate, defineProjection, open, type Annals, type Projection } from '../../src/index.js'
import type { RunningView } from '../../src/ui/data.js'
import { startUi, type UiServer } from '../../src/ui/server.js'
import { tempDir } from './backends.js'

/** account -> balance and how many deposits, and the last ten amounts (a Map, to see it made plain). */
export const Account = defineAggregate({
  name: 'account',
  initial: () => ({ balance: 0, deposits: 0, amounts: new Map<string, number>() }),
  evolve: (state, event) => {
    const amount = (event.data as { amount?: number }).amount ?? 0
    if (event.type === 'Deposited') return { balance: state.balance + amount, deposits: state.deposits + 1, amounts: new Map([...state.amounts, [`r${event.revision}`, amount]]) }
    if (event.type === 'Withdrawn') return { ...state, balance: state.balance - amount }
    if (event.type === 'Broken') throw new Error('this event breaks evolve')
    return state
  }
})

/** account -> { balance }, with history for time travel. */
export const Balances = defineProjection<{ balance: number }>({
  name: 'balances',
  types: ['Deposited', 'Withdrawn'],
  async handle (event, view) {
    const doc = await view.get(event.stream) ?? { balance: 0 }
    const amount = (event.data as { amount: number }).amount
    view.put(event.stream, { balance: doc.balance + (event.type === 'Deposited' ? amount : -amount) })
  }
})

/** Text that would run if the page ever took data for markup. */
export const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'

export interface UiFixture {
  db: Annals
  dir: string
  ui: UiServer
  balances: Projection<{ balance: number }>
  /** the commit times of the three bursts of appends, first and last of each */
  bursts: Array<{ first: number, last: number }>
  close (): Promise<void>
}

async function pause (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * A database on disk with accounts, registered users (one shredded), an event whose data looks
 * like markup, a durable subscription; appended in three bursts 40 ms apart; and the page over it.
 */
export async function uiFixture (): Promise<UiFixture> {
  const { dir: root, remove } = tempDir('annals-ui-')
  const dir = join(root, 'db')
  const db = await open(dir, { personalData: { UserRegistered: { subject: 'userId', fields: ['email', 'profile.name'] } } })
  const balances = await db.project(Balances)
  const sub = db.subscribe({ name: 'mailer', from: 0 }, () => {})
  const bursts: Array<{ first: number, last: number }> = []
  const burst = async (work: () => Promise<unknown>): Promise<void> => {
    const before = (await db.readAll({ backwards: true, limit: 1 }).toArray())[0]?.position ?? -1
    await work()
    const events = await db.readAll({ from: before + 1 }).toArray()
    bursts.push({ first: events[0]!.time, last: events.at(-1)!.time })
    await pause(40)
  }
  await burst(async () => {
    await db.append('account-1', { type: 'Deposited', data: { amount: 100 } })
    await db.append('account-2', { type: 'Deposited', data: { amount: 20 } })
    await db.append('user-1', { type: 'UserRegistered', data: { userId: 'user-1', email: 'ada@example.com', profile: { name: 'Ada', plan: 'pro' } } })
    await db.append('user-2', { type: 'UserRegistered', data: { userId: 'user-2', email: 'bob@example.com', profile: { name: 'Bob', plan: 'free' } } })
  })
  await burst(async () => {
    await db.append('account-1', { type: 'Withdrawn', data: { amount: 30 } })
    await db.append('account-1', { type: 'Deposited', data: { amount: 5 } })
    await db.append('notes', { type: 'Noted', data: { text: XSS, [XSS]: 1 }, metadata: { by: XSS } })
  })
  await burst(async () => {
    for (let i = 0; i < 20; i++) await db.append(`account-${3 + (i % 4)}`, { type: 'Deposited', data: { amount: i + 1 } })
    await db.append('account-2', { type: 'Withdrawn', data: { amount: 7 } })
  })
  await db.shred('user-2')
  await balances.caughtUp()
  await sub.caughtUp()
  await sub.close()
  const views = new Map<string, RunningView>([['balances', { definition: Balances, projection: balances }]])
  const ui = await startUi(db, { location: dir, aggregates: new Map([['account', Account]]), views })
  return {
    db,
    dir,
    ui,
    balances,
    bursts,
    close: async () => {
      await ui.close()
      await db.close()
      remove()
    }
  }
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A request to the page's server: GET unless said, with the given headers (Host included). */
export async function http (url: string, options: { method?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode!, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

/** The cookie the page's first load sets, as a Cookie header. */
export async function cookieOf (ui: UiServer): Promise<string> {
  const first = await http(ui.url)
  const set = first.headers['set-cookie']
  if (first.status !== 302 || set === undefined) throw new Error(`the first load answered ${first.status}`)
  return set[0]!.split(';')[0]!
}

/** GET /api/<path> with the token's cookie; the parsed JSON and the status. */
export async function apiGet (ui: UiServer, cookie: string, path: string): Promise<{ status: number, json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const answer = await http(`http://127.0.0.1:${ui.port}/api/${path}`, { headers: { Cookie: cookie } })
  return { status: answer.status, json: JSON.parse(answer.body) }
}
