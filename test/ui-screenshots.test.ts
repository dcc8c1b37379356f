// `annals ui` on the demo's database, as docs/ui.md shows it: the command run as a user runs it
// (a child process, with the demo's aggregate and views), each page opened in Chromium, and the
// debugging story of docs/cli.md told with the slider: user-300's storage goes negative with the
// retried delete. The screenshots go to a temporary folder; with ANNALS_UI_SCREENSHOTS=1 they
// replace those of docs/ui/ (run `ANNALS_UI_SCREENSHOTS=1 npx tap test/ui-screenshots.test.ts`).
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from '../src/index.js'
import { tempDir } from './helpers/backends.js'
import { launch, noBrowser } from './helpers/browser.js'
import { assertBuilt } from './helpers/child.js'
import { cliMain } from './helpers/cli.js'

const root = fileURLToPath(new URL('..', import.meta.url))

if (noBrowser !== false) {
  process.stderr.write(`# ${noBrowser}\n`)
  t.test('screenshots of the demo', { skip: noBrowser }, async () => {})
} else {
  t.test('the demo, looked at with the page', async t => {
    assertBuilt()
    const { dir: cwd, remove } = tempDir('annals-ui-demo-')
    t.teardown(remove)
    const shots = process.env.ANNALS_UI_SCREENSHOTS === '1' ? join(root, 'docs', 'ui') : cwd
    mkdirSync(shots, { recursive: true })
    await run(process.execPath, [join(root, 'dist', 'demo', 'photos.js')], cwd)
    const data = join(cwd, 'demo-data')
    const db = await open(data)
    const flaky = await db.readStream('user-300').toArray()
    await db.close()
    t.same(flaky.map(e => e.type), ['UserRegistered', 'PhotoAdded', 'PhotoDeleted', 'PhotoDeleted'], 'the flaky client\'s stream')
    const firstDelete = flaky[2]!.position

    const child = spawn(process.execPath, [cliMain, 'ui', 'demo-data', '--aggregate', join(root, 'dist/demo/storage.js#Storage'), '--module', join(root, 'dist/demo/views.js'), '--events', join(root, 'dist/demo/events.js')], { cwd, stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = new Promise(resolve => child.once('exit', resolve))
    t.teardown(async () => {
      child.kill('SIGTERM')
      await exited
    })
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk
        const m = /http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+/.exec(out)
        if (m !== null) resolve(m[0])
      })
      void exited.then(code => { reject(new Error(`annals ui exited with ${String(code)}`)) })
    })
    const origin = new URL(url).origin
    const browser = await launch()
    t.teardown(browser.close)
    const page = await browser.page()

    await page.goto(url)
    await page.locator('[data-testid=rate-chart] canvas').first().waitFor()
    await page.locator('[data-testid=latest] li').first().waitFor()
    t.match(await page.textContent('[data-testid=projections]'), /per-camera.*per-user.*photos/s)
    await page.screenshot({ path: join(shots, 'overview.png') })

    await page.goto(`${origin}/#/streams?prefix=user-29`)
    await page.locator('[data-testid=streams] tbody tr').nth(10).waitFor()
    await page.screenshot({ path: join(shots, 'streams.png') })

    await page.goto(`${origin}/#/stream?name=user-7`)
    await page.locator('[data-testid=event]').first().waitFor()
    t.same(await page.locator('[data-testid=event]').first().locator('.badge.redacted').allTextContents(), ['redacted · user-7', 'redacted · user-7'], 'user-7 was shredded by the demo')
    await page.screenshot({ path: join(shots, 'stream.png') })

    await page.goto(`${origin}/#/log?position=${firstDelete}&stream=user-300&view=per-user&prefix=user-300`)
    const at = `position:${firstDelete}`
    await page.locator(`[data-testid=aggregate][data-for="${at}|storage|user-300"]`).waitFor()
    await page.locator(`[data-testid=view][data-for="${at}|per-user|user-300"]`).waitFor()
    t.equal(await page.textContent('[data-testid=aggregate-state]'), JSON.stringify({ photos: 0, bytes: 0 }, null, 2), 'after the first delete')
    const retry = ['~ state.photos: 0 → -1', '~ state.bytes: 0 → -2400000']
    t.same((await page.locator('[data-testid=aggregate] [data-testid=changes] li').allTextContents()).map(s => s.replace(/\s+/g, ' ').trim()), retry, 'the retried delete takes it below zero')
    t.same((await page.locator('[data-testid=view] [data-testid=changes] li').allTextContents()).map(s => s.replace(/\s+/g, ' ').trim()),
      ['~ view["user-300"].photos: 0 → -1', '~ view["user-300"].bytes: 0 → -2400000'], 'and the view with it')
    await page.screenshot({ path: join(shots, 'log.png') })
    t.same(browser.problems, [])
    for (const name of ['overview', 'streams', 'stream', 'log']) t.ok(statSync(join(shots, `${name}.png`)).size > 10_000, `${name}.png`)
  })
}

async function run (command: string, args: string[], cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: 'ignore' })
    child.once('error', reject)
    child.once('exit', code => { if (code === 0) resolve(); else reject(new Error(`${args.join(' ')} exited with ${String(code)}`)) })
  })
}
