// The server of `annals ui`, without a browser: who it answers (the token, the Host, reads only,
// no CORS), and what it answers, against the public API (db.load with `at`, view.at).
import t from 'tap'
import { request } from 'node:http'
import { toJsonValue } from '../src/cli/json-value.js'
import { changes, pathText, plain } from '../src/cli/state-diff.js'
import { importMapHash } from '../src/ui/assets.js'
import { sameToken } from '../src/ui/security.js'
import { Account, apiGet, cookieOf, http, uiFixture, XSS } from './helpers/ui.js'

const fx = await uiFixture()
t.teardown(fx.close)
const { ui, db } = fx
const origin = `http://127.0.0.1:${ui.port}`
const cookie = await cookieOf(ui)

t.test('the token compares in full', async t => {
  t.ok(sameToken(ui.token, ui.token))
  t.notOk(sameToken(ui.token.slice(0, -1) + (ui.token.endsWith('A') ? 'B' : 'A'), ui.token), 'one character off')
  t.notOk(sameToken(ui.token.slice(0, 10), ui.token), 'a prefix')
  t.notOk(sameToken('', ui.token))
})

t.test('every request without the token is refused', async t => {
  for (const path of ['/', '/api/overview', '/api/live', '/api/events?stream=account-1', '/app/main.js', '/vendor/preact.mjs', '/nothing']) {
    const answer = await http(origin + path)
    t.equal(answer.status, 403, `${path} without the token`)
    t.notMatch(answer.body, /account-1|Deposited/, 'nothing of the database')
  }
  const wrong = await http(`${origin}/?token=${'x'.repeat(ui.token.length)}`)
  t.equal(wrong.status, 403, 'a wrong token')
  t.equal(wrong.headers['set-cookie'], undefined, 'sets no cookie')
  t.equal((await http(`${origin}/api/overview`, { headers: { Cookie: `annals-ui-${ui.port}=${'x'.repeat(ui.token.length)}` } })).status, 403, 'a wrong cookie')
  t.equal((await http(`${origin}/api/overview`, { headers: { Cookie: `annals-ui-${ui.port + 1}=${ui.token}` } })).status, 403, 'the cookie of another port')
})

t.test('the token in the address sets an HttpOnly, SameSite=Strict cookie and leaves the address', async t => {
  const first = await http(ui.url)
  t.equal(first.status, 302)
  t.equal(first.headers.location, '/')
  const set = String(first.headers['set-cookie'])
  t.match(set, new RegExp(`^annals-ui-${ui.port}=${ui.token};`))
  t.match(set, /HttpOnly/)
  t.match(set, /SameSite=Strict/)
  const page = await http(`${origin}/`, { headers: { Cookie: cookie } })
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /<script type="importmap">/)
  t.notMatch(page.body, /https?:\/\//, 'no asset from elsewhere')
  const api = await http(`${origin}/api/overview?token=${ui.token}`)
  t.equal(api.status, 200, 'an API request may carry the token in its address too')
})

t.test('a strict content security policy, no CORS', async t => {
  const page = await http(`${origin}/`, { headers: { Cookie: cookie, Origin: 'http://evil.example' } })
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/)
  t.match(csp, new RegExp(`script-src 'self' '${importMapHash.replace(/[+/]/g, c => `\\${c}`)}'`))
  t.match(csp, /frame-ancestors 'none'/)
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['access-control-allow-origin'], undefined)
  const preflight = await http(`${origin}/api/overview`, { method: 'OPTIONS', headers: { Cookie: cookie, Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' } })
  t.equal(preflight.status, 405)
  t.equal(preflight.headers['access-control-allow-origin'], undefined)
  t.equal(preflight.headers['access-control-allow-methods'], undefined)
})

t.test('another Host is refused, even with the token (DNS rebinding)', async t => {
  for (const host of ['evil.example', `evil.example:${ui.port}`, `127.0.0.1:${ui.port + 1}`]) {
    const answer = await http(`${origin}/api/overview`, { headers: { Cookie: cookie, Host: host } })
    t.equal(answer.status, 403, host)
  }
  t.equal((await http(`${origin}/api/overview`, { headers: { Cookie: cookie, Host: `localhost:${ui.port}` } })).status, 200, 'localhost is this machine')
})

t.test('it only reads: other methods are refused and change nothing', async t => {
  const before = await db.revision('account-1')
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const answer = await http(`${origin}/api/events?stream=account-1`, { method, headers: { Cookie: cookie } })
    t.equal(answer.status, 405, method)
    t.equal(answer.headers.allow, 'GET, HEAD')
  }
  t.equal(await db.revision('account-1'), before)
})

t.test('listens on 127.0.0.1 only', async t => {
  t.match(ui.url, new RegExp(`^http://127\\.0\\.0\\.1:${ui.port}/\\?token=`))
  const err = await new Promise<NodeJS.ErrnoException | undefined>(resolve => {
    const req = request({ host: '::1', port: ui.port, path: '/' }, () => { resolve(undefined) })
    req.on('error', resolve)
    req.end()
  })
  t.ok(err !== undefined, `not on ::1 (${err?.code ?? 'answered'})`)
})

t.test('the page\'s files come from the package', async t => {
  const main = await http(`${origin}/app/main.js`, { headers: { Cookie: cookie } })
  t.equal(main.status, 200)
  t.match(main.headers['content-type'], /text\/javascript/)
  t.match(main.body, /from 'htm\/preact'/)
  for (const name of ['preact.mjs', 'preact-hooks.mjs', 'htm.mjs', 'htm-preact.mjs', 'uplot.mjs', 'uplot.css']) {
    const answer = await http(`${origin}/vendor/${name}`, { headers: { Cookie: cookie } })
    t.equal(answer.status, 200, name)
    t.ok(answer.body.length > 100, `${name} is the library`)
    t.notMatch(answer.body, /sourceMappingURL/, `${name} points at no file that is not served`)
  }
  t.equal((await http(`${origin}/app/..%2F..%2Fpackage.json`, { headers: { Cookie: cookie } })).status, 404)
  t.equal((await http(`${origin}/vendor/open`, { headers: { Cookie: cookie } })).status, 404)
})

t.test('the overview is annals info\'s, with the live state of the projections this page runs', async t => {
  const { status, json } = await apiGet(ui, cookie, 'overview')
  t.equal(status, 200)
  t.match(json, { events: 28, streams: 9, shreddedSubjects: 1, aggregates: ['account'], views: ['balances'] })
  t.match(json.projections, [{ name: 'balances', version: 1, position: 27, lag: 0, state: 'live', running: true }])
  t.match(json.subscriptions, [{ name: 'mailer', position: 27, lag: 0 }])
  const rate = (await apiGet(ui, cookie, 'rate?buckets=50')).json
  const total = rate.perSecond.reduce((n: number, r: number) => n + r * rate.step / 1000, 0)
  t.equal(Math.round(total), 28, 'the buckets hold every event')
  t.equal(rate.start, fx.bursts[0]!.first)
  t.equal(rate.sampled, false)
})

t.test('streams by prefix, page by page', async t => {
  const first = (await apiGet(ui, cookie, 'streams?prefix=account-&limit=4')).json
  t.same(first.streams.map((s: { stream: string }) => s.stream), ['account-1', 'account-2', 'account-3', 'account-4'])
  t.equal(first.more, true)
  const next = (await apiGet(ui, cookie, 'streams?prefix=account-&limit=4&after=account-4')).json
  t.same(next.streams.map((s: { stream: string }) => s.stream), ['account-5', 'account-6'])
  t.equal(next.more, false)
  t.match(first.streams[0], { stream: 'account-1', revision: 2, time: fx.bursts[1]!.last >= first.streams[0].time ? Number : null })
})

t.test('events with personal fields named, shredded ones redacted; user data as data', async t => {
  const ada = (await apiGet(ui, cookie, 'events?stream=user-1')).json.events[0]
  t.same(ada.personal, { email: 'user-1', 'profile.name': 'user-1' })
  t.equal(ada.redacted, undefined)
  t.same(ada.data, { userId: 'user-1', email: 'ada@example.com', profile: { name: 'Ada', plan: 'pro' } })
  const bob = (await apiGet(ui, cookie, 'events?stream=user-2')).json.events[0]
  t.same(bob.personal, { email: 'user-2', 'profile.name': 'user-2' })
  t.same(bob.redacted, ['email', 'profile.name'])
  t.same(bob.data, { userId: 'user-2', email: null, profile: { name: null, plan: 'free' } })
  const note = (await apiGet(ui, cookie, 'events?stream=notes')).json.events[0]
  t.same(note.data, { text: XSS, [XSS]: 1 })
  const log = (await apiGet(ui, cookie, 'log?from=27&backwards=1&limit=3')).json
  t.same(log.events.map((e: { position: number }) => e.position), [27, 26, 25])
  t.equal(log.more, true)
})

t.test('the slider\'s moment: a position, or the last event committed at or before a time', async t => {
  t.match((await apiGet(ui, cookie, 'moment?position=5')).json, { position: 5, head: { position: 27 } })
  t.match((await apiGet(ui, cookie, 'moment?position=500')).json, { position: 27 }, 'past the head: the head')
  const [b0, b1] = fx.bursts
  t.match((await apiGet(ui, cookie, `moment?time=${b0!.first - 1}`)).json, { position: -1, time: null }, 'before the first event')
  t.match((await apiGet(ui, cookie, `moment?time=${b0!.last}`)).json, { position: 3, time: b0!.last })
  t.match((await apiGet(ui, cookie, `moment?time=${b1!.first - 1}`)).json, { position: 3 })
  t.match((await apiGet(ui, cookie, `moment?time=${b1!.last}`)).json, { position: 6 })
  t.equal((await apiGet(ui, cookie, 'moment')).status, 400)
  t.equal((await apiGet(ui, cookie, 'moment?position=1&time=2')).status, 400)
  t.equal((await apiGet(ui, cookie, 'moment?position=-1')).status, 400)
})

t.test('an aggregate at the slider\'s moment is db.load with at, and the next event\'s change is the replay diff', async t => {
  for (const at of [{ position: 0 }, { position: 4 }, { position: 5 }, { position: 27 }, { time: fx.bursts[1]!.last }, { time: fx.bursts[0]!.first - 1 }]) {
    const query = 'position' in at ? `position=${at.position}` : `time=${at.time}`
    const { json } = await apiGet(ui, cookie, `aggregate?name=account&stream=account-1&${query}`)
    const loaded = await db.load(Account, 'account-1', { at })
    t.same(json.state, toJsonValue(plain(loaded.state)), `state at ${query}`)
    t.match(json, { revision: loaded.revision, position: loaded.position })
    const next = await db.readStream('account-1', { from: loaded.revision + 1, limit: 1 }).toArray()
    if (next.length === 0) {
      t.equal(json.next, null)
      continue
    }
    const after = await db.load(Account, 'account-1', { at: { revision: next[0]!.revision } })
    t.equal(json.next.event.position, next[0]!.position)
    t.same(json.next.changes, changes(plain(loaded.state), plain(after.state)).map(c => ({
      op: c.op, path: pathText(c.path), ...'from' in c ? { from: toJsonValue(c.from) } : {}, ...'to' in c ? { to: toJsonValue(c.to) } : {}
    })), `changes after ${query}`)
  }
  const at4 = (await apiGet(ui, cookie, 'aggregate?name=account&stream=account-1&position=4')).json
  t.match(at4.next.changes, [{ op: 'set', path: 'state.balance', from: 70, to: 75 }, { op: 'set', path: 'state.deposits', from: 1, to: 2 }, { op: 'add', path: 'state.amounts.r2', to: 5 }])
  t.equal((await apiGet(ui, cookie, 'aggregate?name=nope&stream=account-1&position=1')).status, 404)
  t.equal((await apiGet(ui, cookie, 'aggregate?name=account&position=1')).status, 400)
})

t.test('a view at the slider\'s moment is view.at, and the next change among its documents', async t => {
  for (const position of [0, 3, 6, 15, 27]) {
    const { json } = await apiGet(ui, cookie, `view?name=balances&position=${position}`)
    const then = await fx.balances.at({ position })
    const docs: Array<{ key: string, doc: unknown }> = []
    for await (const [key, doc] of then.query()) docs.push({ key, doc })
    t.same(json.docs, docs, `documents at ${position}`)
    t.equal(json.position, position)
  }
  const at3 = (await apiGet(ui, cookie, 'view?name=balances&position=3')).json
  t.match(at3.next, { event: { position: 4, type: 'Withdrawn' }, changes: [{ op: 'set', path: 'view["account-1"].balance', from: 100, to: 70 }] })
  // only account-2: its next change is far on, past events of other accounts
  const two = (await apiGet(ui, cookie, 'view?name=balances&position=3&prefix=account-2')).json
  t.same(two.docs, [{ key: 'account-2', doc: { balance: 20 } }])
  t.match(two.next, { event: { position: 27, stream: 'account-2' }, changes: [{ op: 'set', path: 'view["account-2"].balance', from: 20, to: 13 }] })
  // a limit: the change is looked for among the keys shown
  // all documents: the next change adds account-3
  t.match((await apiGet(ui, cookie, 'view?name=balances&position=5')).json.next, { event: { position: 7 }, changes: [{ op: 'add', path: 'view["account-3"]', to: { balance: 1 } }] })
  // one document shown: changes are looked for among the keys up to it only
  const limited = (await apiGet(ui, cookie, 'view?name=balances&position=5&limit=1')).json
  t.same(limited.docs, [{ key: 'account-1', doc: { balance: 75 } }])
  t.equal(limited.more, true)
  t.equal(limited.next, null, 'account-1 changes no more; the others are not shown')
  t.equal(limited.looked, 21, 'the events of the projection\'s types after position 5')
  const end = (await apiGet(ui, cookie, 'view?name=balances&position=27')).json
  t.equal(end.next, null)
  t.equal(end.looked, 0)
  t.equal((await apiGet(ui, cookie, 'view?name=nope&position=1')).status, 404)
})

t.test('what the user\'s code throws is an answer, not a crash', async t => {
  await db.append('account-9', { type: 'Broken', data: {} })
  const { status, json } = await apiGet(ui, cookie, 'aggregate?name=account&stream=account-9&position=28')
  t.equal(status, 422)
  t.equal(json.code, 'ANNALS_AGGREGATE_FAILED')
  t.match(json.error, /this event breaks evolve/)
})

t.test('live updates: appends arrive as server-sent events', async t => {
  const received: string[] = []
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request(`${origin}/api/live`, { headers: { Cookie: cookie } }, resolve)
    req.on('error', reject)
    req.end()
  })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/event-stream/)
  res.setEncoding('utf8')
  const seen = new Promise<void>(resolve => {
    res.on('data', (chunk: string) => {
      received.push(chunk)
      if (received.join('').includes('"stream":"live-1"')) resolve()
    })
  })
  // the first message says where things stand
  while (!received.join('').includes('event: progress')) await new Promise(resolve => setTimeout(resolve, 10))
  await db.append('live-1', { type: 'Deposited', data: { amount: 1 } })
  await seen
  const text = received.join('')
  const line = text.split('\n').find(l => l.startsWith('data: ') && l.includes('live-1'))!
  const message = JSON.parse(line.slice(6))
  // the events committed since the last message: those that no page was sent yet, then this one
  t.match(message, { head: { position: 29 }, count: message.events.length })
  t.match(message.events.at(-1), { stream: 'live-1', type: 'Deposited', position: 29, data: { amount: 1 } })
  t.match(text, /event: append/)
  res.destroy()
})
