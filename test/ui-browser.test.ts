// The page of `annals ui` in a real browser (headless Chromium): each page opens and shows the
// database; the time slider, dragged with the mouse, shows what db.load with `at` and view.at
// give; live updates arrive while the page is open; without the token nothing is shown; user
// data is never taken for markup.
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { toJsonValue } from '../src/cli/json-value.js'
import { changes, pathText, plain } from '../src/cli/state-diff.js'
import { drag, launch, noBrowser, type Browser } from './helpers/browser.js'
import { Account, uiFixture, XSS, type UiFixture } from './helpers/ui.js'

if (noBrowser !== false) {
  process.stderr.write(`# ${noBrowser}\n`)
  t.test('the page in a browser', { skip: noBrowser }, async () => {})
} else {
  const fx: UiFixture = await uiFixture()
  const browser: Browser = await launch()
  t.teardown(async () => {
    await browser.close()
    await fx.close()
  })
  const origin = `http://127.0.0.1:${fx.ui.port}`
  const page: Page = await browser.page()

  t.test('without the token, the page is refused', async t => {
    const response = await page.goto(`${origin}/`)
    t.equal(response!.status(), 403)
    t.match(await page.textContent('body'), /Forbidden/)
    t.equal(await page.locator('#app').count(), 0)
    t.equal((await page.goto(`${origin}/?token=${'A'.repeat(fx.ui.token.length)}`))!.status(), 403, 'a wrong token')
  })

  t.test('the overview', async t => {
    await page.goto(fx.ui.url)
    t.equal(new URL(page.url()).search, '', 'the token leaves the address')
    await page.locator('[data-testid=events-count]').filter({ hasText: '28' }).waitFor()
    t.equal(await page.title(), `annals · ${fx.dir}`)
    t.ok(await page.locator('[data-testid=rate-chart] canvas').count() > 0, 'the chart is drawn')
    const balances = page.locator('[data-testid=projections] tr[data-name=balances]')
    t.match(await balances.textContent(), /balances\s*v1\s*running here/)
    t.equal(await balances.locator('[data-testid=lag]').textContent(), '0')
    t.equal(await page.locator('[data-testid=subscriptions] tr[data-name=mailer] [data-testid=lag]').textContent(), '0')
    t.equal(await page.locator('[data-testid=latest] li').count(), 10)
    t.match(await page.locator('[data-testid=live]').textContent(), /live · head #27/)
  })

  t.test('streams, searched by prefix', async t => {
    await page.goto(`${origin}/#/streams`)
    await page.locator('[data-testid=streams] tbody tr').first().waitFor()
    t.equal(await page.locator('[data-testid=streams] tbody tr').count(), 9)
    await page.fill('[data-testid=prefix]', 'user-')
    await page.locator('[data-testid=streams] tbody tr').nth(2).waitFor({ state: 'detached' })
    t.same(await page.locator('[data-testid=streams] tbody tr td:first-child').allTextContents(), ['user-1', 'user-2'])
    t.match(page.url(), /#\/streams\?prefix=user-$/, 'the search is in the address')
    await page.fill('[data-testid=prefix]', 'nobody')
    await page.getByText('no streams start with "nobody"').waitFor()
  })

  t.test('a stream\'s events: personal fields sealed, shredded ones redacted', async t => {
    await page.goto(`${origin}/#/streams?prefix=user-`)
    await page.click('text=user-1')
    await page.locator('[data-testid=event]').waitFor()
    t.equal(await page.textContent('[data-testid=stream-name]'), 'user-1')
    const event = page.locator('[data-testid=event]')
    t.equal(await event.locator('.badge.sealed').count(), 2)
    t.notMatch(await event.textContent(), /ada@example\.com|"Ada"/, 'sealed fields are hidden until asked for')
    t.match(await event.textContent(), /"plan": "pro"/, 'the other fields are shown')
    await event.locator('button.sealed').first().click()
    t.match(await event.textContent(), /"email": "ada@example\.com" personal · user-1/)
    await page.goto(`${origin}/#/stream?name=user-2`)
    await page.locator('[data-testid=event]').waitFor()
    t.same(await page.locator('[data-testid=event] .badge.redacted').allTextContents(), ['redacted · user-2', 'redacted · user-2'])
    t.match(await page.textContent('[data-testid=event]'), /"email": null redacted · user-2/)
  })

  t.test('user data is shown as text, never run as markup', async t => {
    await page.goto(`${origin}/#/stream?name=notes`)
    await page.locator('[data-testid=event]').waitFor()
    const text = await page.textContent('[data-testid=event]')
    t.ok(text!.includes(JSON.stringify(XSS)), 'the data, as written')
    t.equal(await page.locator('[data-testid=event] img, [data-testid=event] script').count(), 0, 'no element made from it')
    t.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined, 'nothing of it ran')
  })

  /** Waits until the slider's moment and both panels show what the slider points at; returns its position. */
  async function settled (at: string): Promise<number> {
    await page.locator(`[data-testid=moment][data-for="${at}"]`).waitFor()
    await page.locator(`[data-testid=aggregate][data-for="${at}|account|account-1"]`).waitFor()
    await page.locator(`[data-testid=view][data-for="${at}|balances|"]`).waitFor()
    return Number(await page.getAttribute('[data-testid=moment]', 'data-position'))
  }

  /** What the page shows of the aggregate and the view, against db.load and view.at. */
  async function check (t: Test, at: { position: number } | { time: number }, position: number): Promise<void> {
    const loaded = await fx.db.load(Account, 'account-1', { at })
    t.equal(await page.textContent('[data-testid=aggregate-state]'), JSON.stringify(toJsonValue(plain(loaded.state)), null, 2), `the state of account-1 (${JSON.stringify(at)})`)
    t.match(await page.textContent('[data-testid=aggregate-revision]'), loaded.revision < 0 ? /no event yet/ : new RegExp(`after revision ${loaded.revision} \\(position #${loaded.position},`))
    const next = await fx.db.readStream('account-1', { from: loaded.revision + 1, limit: 1 }).toArray()
    if (next.length === 0) {
      t.equal(await page.locator('[data-testid=aggregate] [data-testid=next-none]').count(), 1)
    } else {
      const after = await fx.db.load(Account, 'account-1', { at: { revision: next[0]!.revision } })
      const expected = changes(plain(loaded.state), plain(after.state)).map(c => {
        const v = (x: unknown): string => JSON.stringify(toJsonValue(x))
        return c.op === 'set' ? `~ ${pathText(c.path)}: ${v(c.from)} → ${v(c.to)}` : c.op === 'add' ? `+ ${pathText(c.path)}: ${v(c.to)}` : `- ${pathText(c.path)} (was ${v(c.from)})`
      })
      const shown = await page.locator('[data-testid=aggregate] [data-testid=changes] li').allTextContents()
      t.same(shown.map(s => s.replace(/\s+/g, ' ').trim()), expected, 'the next event\'s changes, as replay prints them')
      t.equal(await page.getAttribute('[data-testid=aggregate] [data-testid=event-line]', 'data-position'), String(next[0]!.position))
    }
    const view = await fx.balances.at(at)
    t.equal(view.position, position, 'the view as of the same position')
    const docs: string[] = []
    for await (const [key, doc] of view.query()) docs.push(`${key} ${JSON.stringify(doc, null, 2)}`)
    const rows = await page.locator('[data-testid=view-docs] tr').evaluateAll(trs => trs.map(tr => `${tr.querySelector('th')!.textContent!} ${tr.querySelector('td')!.textContent!}`))
    t.same(rows, docs, 'the view\'s documents, as view.at gives them')
  }

  t.test('the time slider over positions, dragged, shows what db.load and view.at give', async t => {
    await page.goto(`${origin}/#/log?stream=account-1`)
    let position = await settled('position:27')
    t.equal(position, 27, 'at the head at first')
    const seen = new Set<number>()
    for (const fraction of [0.1, 0.45, 0.02, 0.8]) {
      await drag(page, '[data-testid=slider]', fraction)
      const value = Number(await page.inputValue('[data-testid=slider]'))
      t.ok(Math.abs(value - fraction * 27) <= 1.5, `dragged to about ${fraction} of the way (${value})`)
      position = await settled(`position:${value}`)
      t.equal(position, value)
      seen.add(position)
      await check(t, { position }, position)
      t.equal(await page.getAttribute('[data-testid=around] .this-moment', 'data-position'), String(position), 'the event at the moment is marked')
      t.match(page.url(), new RegExp(`position=${position}`), 'the moment is in the address')
    }
    t.equal(seen.size, 4, 'four moments')
    await page.click('[data-testid=forward]')
    position = await settled(`position:${[...seen].at(-1)! + 1}`)
    await check(t, { position }, position)
  })

  t.test('the time slider over commit times', async t => {
    await page.click('[data-testid=mode-time]')
    for (const fraction of [0.3, 0.97, 0.6]) {
      await drag(page, '[data-testid=slider]', fraction)
      const time = Number(await page.inputValue('[data-testid=slider]'))
      const position = await settled(`time:${time}`)
      const then = await fx.db.readAll().toArray()
      t.equal(position, then.filter(e => e.time <= time).at(-1)?.position ?? -1, `the last event committed at or before ${new Date(time).toISOString()}`)
      await check(t, { time }, position)
    }
  })

  t.test('live updates: events appended while the page is open arrive', async t => {
    await page.goto(`${origin}/#/overview`)
    await page.locator('[data-testid=live]', { hasText: '● live' }).waitFor()
    await page.locator('[data-testid=latest] li').first().waitFor()
    const { position } = await fx.db.append('live-2', { type: 'Deposited', data: { amount: 3 } })
    await page.locator('[data-testid=latest] li', { hasText: 'live-2' }).waitFor()
    await page.locator('[data-testid=events-count]', { hasText: String(position + 1) }).waitFor()
    t.match(await page.locator('[data-testid=live]').textContent(), new RegExp(`head #${position}`))
    // the log page follows the head
    await page.goto(`${origin}/#/log?stream=account-1`)
    await settled(`position:${position}`)
    const { position: later } = await fx.db.append('account-1', { type: 'Deposited', data: { amount: 1 } })
    const at = await settled(`position:${later}`)
    t.equal(at, later, 'the slider moved to the new event')
    await check(t, { position: later }, later)
  })

  t.test('no problem in the browser', async t => {
    t.same(browser.problems, [])
  })
}

