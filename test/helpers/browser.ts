// Headless Chromium from the operating system's packages, driven by playwright-core (which
// never downloads a browser of its own). Where /usr/bin/chromium is missing, the browser tests
// are skipped with this notice; CI installs it (.ci/run).
import { existsSync } from 'node:fs'
import type { BrowserContext, Page } from 'playwright-core'
import { tempDir } from './backends.js'

export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests cannot run here; false when they can. */
export const noBrowser: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM}: the browser tests of annals ui are skipped (apt-get install chromium)`

export interface Browser {
  context: BrowserContext
  /** A new tab, whose page errors and dialogs are collected into `problems`. */
  page (): Promise<Page>
  problems: string[]
  close (): Promise<void>
}

/** Chromium, headless, with a fresh profile. */
export async function launch (): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  const { dir, remove } = tempDir('annals-chromium-')
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  const problems: string[] = []
  return {
    context,
    problems,
    page: async () => {
      const page = await context.newPage()
      page.on('pageerror', err => { problems.push(`page error: ${err.message}`) })
      page.on('console', m => { if (m.type() === 'error' && !/status of 40[34]/.test(m.text())) problems.push(`console error: ${m.text()}`) })
      page.on('dialog', d => {
        problems.push(`dialog: ${d.message()}`)
        void d.dismiss()
      })
      return page
    },
    close: async () => {
      await context.close()
      remove()
    }
  }
}

/** Drags the thumb of a range input from where it is to `fraction` (0 to 1) of its track, with the mouse. */
export async function drag (page: Page, selector: string, fraction: number): Promise<void> {
  const slider = page.locator(selector)
  const box = (await slider.boundingBox())!
  const { min, max, value } = await slider.evaluate(el => {
    const input = el as unknown as { min: string, max: string, value: string }
    return { min: Number(input.min), max: Number(input.max), value: Number(input.value) }
  })
  // Chromium's thumb is about 16 px wide: its centre runs from 8 px to width - 8 px
  const x = (f: number): number => box.x + 8 + f * (box.width - 16)
  const y = box.y + box.height / 2
  await page.mouse.move(x(max === min ? 0 : (value - min) / (max - min)), y)
  await page.mouse.down()
  await page.mouse.move(x(fraction), y, { steps: 12 })
  await page.mouse.up()
}
