// Peak memory of replaying a long log, measured in a process of its own so that nothing else
// it did counts: `node dist/bench/memory.js write <n>` builds the log, `... replay` reads it all.
import { open } from '../src/index.js'
import { freshDir, sampleEvent } from './lib.js'
import { join } from 'node:path'

const [mode, countArg] = process.argv.slice(2)
const dir = join(process.cwd(), 'bench-data', 'memory')

if (mode === 'write') {
  const count = Number(countArg)
  const db = await open(freshDir('memory'))
  for (let i = 0; i < count; i += 1000) {
    const appends = []
    for (let j = i; j < Math.min(i + 1000, count); j += 100) {
      const events = []
      for (let k = j; k < Math.min(j + 100, count); k++) {
        const e = sampleEvent(k, 1000)
        events.push({ type: e.type, data: e.data })
      }
      appends.push(db.append(`user-${(j / 100) % 1000}`, events))
    }
    await Promise.all(appends)
  }
  await db.close()
} else if (mode === 'replay') {
  const db = await open(dir)
  const start = performance.now()
  let n = 0
  for await (const e of db.readAll()) if (e.position >= 0) n++
  const ms = performance.now() - start
  await db.close()
  const peakRssMB = process.resourceUsage().maxRSS / 1024
  process.stdout.write(JSON.stringify({ events: n, ms, peakRssMB }) + '\n')
} else {
  throw new Error('usage: memory.js write <n> | replay')
}
