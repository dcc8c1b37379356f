// Peak memory of replaying a long log, measured in processes of their own so that nothing else
// counts: `node dist/bench/memory.js write <n>` builds the log; `... replay annals` and
// `... replay raw` read it all, through annals and through raw classic-level (iterate and
// decode the same records), and print their peak memory.
//
// Two figures: peak RSS (what `ps` shows), and peak anonymous memory, sampled from
// /proc/self/status. RSS also counts the table files LevelDB maps into memory to read them:
// page cache, shared and reclaimable, which grows with the size of the database, not with
// what the process holds.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { unpack } from 'msgpackr'
import { open } from '../src/index.js'
import { freshDir, sampleEvent } from './lib.js'

const [mode, arg] = process.argv.slice(2)
const dir = join(process.cwd(), 'bench-data', 'memory')

function anonymousKB (): number {
  try {
    return Number(/RssAnon:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN)
  } catch {
    return NaN // not Linux
  }
}

if (mode === 'write') {
  const count = Number(arg)
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
  let peakAnonKB = anonymousKB()
  const sampler = setInterval(() => { peakAnonKB = Math.max(peakAnonKB, anonymousKB()) }, 10)
  const start = performance.now()
  let n = 0
  if (arg === 'raw') {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await db.open()
    // the log's key space only: tag 'L'
    const it = db.iterator({ gte: Buffer.from('L'), lt: Buffer.from('M') })
    for (let entries = await it.nextv(1024); entries.length > 0; entries = await it.nextv(1024)) {
      for (const [, value] of entries) if (unpack(value) !== undefined) n++
    }
    await it.close()
    await db.close()
  } else {
    const db = await open(dir)
    for await (const e of db.readAll()) if (e.position >= 0) n++
    await db.close()
  }
  const ms = performance.now() - start
  clearInterval(sampler)
  peakAnonKB = Math.max(peakAnonKB, anonymousKB())
  process.stdout.write(JSON.stringify({ events: n, ms, peakRssMB: process.resourceUsage().maxRSS / 1024, peakAnonMB: peakAnonKB / 1024 }) + '\n')
} else {
  throw new Error('usage: memory.js write <n> | replay annals|raw')
}
