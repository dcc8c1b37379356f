// The examples in README.md and docs/ are programs: each ```ts block runs here, against the
// source, in a folder of its own. A `console.log(...)` followed by a comment `// value` must
// print that value (util.inspect's form; several calls on one line join with spaces).
import t from 'tap'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { tempDir } from './helpers/backends.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const snippets = join(root, 'test', '.snippets')
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

interface Block { doc: string, line: number, code: string }

function blocks (doc: string): Block[] {
  const text = readFileSync(join(root, doc), 'utf8')
  const out: Block[] = []
  const fence = /^```ts\n([\s\S]*?)^```$/gm
  for (let m = fence.exec(text); m !== null; m = fence.exec(text)) {
    out.push({ doc, line: text.slice(0, m.index).split('\n').length, code: m[1]! })
  }
  return out
}

const logs = new Map<number, string[]>()
;(globalThis as Record<string, unknown>).__docLog = (line: number, ...args: unknown[]) => {
  logs.set(line, [...logs.get(line) ?? [], args.map(a => typeof a === 'string' ? a : inspect(a)).join(' ')])
}

rmSync(snippets, { recursive: true, force: true })
mkdirSync(snippets, { recursive: true })
t.teardown(() => rmSync(snippets, { recursive: true, force: true }))

let n = 0
for (const doc of docs) {
  for (const block of blocks(doc)) {
    const name = `${doc}:${block.line}`
    t.test(`the example at ${name} runs`, async t => {
      const lines = block.code.split('\n')
      const expected = new Map<number, string>()
      const source = lines.map((line, i) => {
        const m = /console\.log\((.*)\)\s*\/\/\s*(.+)$/.exec(line)
        if (m !== null) expected.set(i, m[2]!.trim())
        return line
          .replace(/from 'annals'/, `from '../../src/index.js'`)
          .replace(/from 'annals\/testing'/, `from '../../src/testing.js'`)
          .replace(/from 'annals\/otel'/, `from '../../src/otel/index.js'`)
          .replace(/console\.log\(/g, `__docLog(${i}, `)
      }).join('\n')
      const file = join(snippets, `snippet-${n++}.ts`)
      writeFileSync(file, `// ${name}\nconst __docLog = (globalThis as any).__docLog\n${source}\nexport {}\n`)
      const { dir, remove } = tempDir('annals-doc-')
      const cwd = process.cwd()
      process.chdir(dir)
      logs.clear()
      try {
        await import(file)
      } finally {
        process.chdir(cwd)
        remove()
      }
      for (const [i, want] of expected) {
        t.equal((logs.get(i) ?? []).join(' ').replace(/\s+/g, ' '), want.replace(/\s+/g, ' '), `line ${block.line + i + 1}: ${lines[i]!.trim()}`)
      }
    })
  }
}
