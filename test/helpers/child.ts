// Child processes of the tests run the built package, which starts in a fraction of the time
// TypeScript would take. `npm test` builds first; a stale build fails loudly rather than
// testing old code.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

function newest (dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** Throws unless dist/ is built from the current src/. */
export function assertBuilt (): void {
  let built: number
  try {
    built = statSync(join(root, 'dist', 'src', 'index.js')).mtimeMs
  } catch {
    throw new Error('dist/ is missing: run `npm run build` (npm test does)')
  }
  if (newest(join(root, 'src')) > built) throw new Error('dist/ is older than src/: run `npm run build` (npm test does)')
}

/** How to start a child: with a standard input it can watch (it ends with the test), as another user. */
export interface ChildOptions {
  stdin?: boolean
  uid?: number
  gid?: number
}

/** Starts `test/fixtures/<script>` and resolves once it printed `ready`. */
export async function startChild (script: string, args: string[], onLine?: (line: string) => void, options: ChildOptions = {}): Promise<ChildProcess> {
  assertBuilt()
  const child = spawn(process.execPath, [join(root, 'test', 'fixtures', script), ...args], {
    stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'inherit'],
    // the children run built JavaScript: without tap's loaders they start in a fraction of the time
    env: { ...process.env, NODE_OPTIONS: '' },
    ...options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }
  })
  let buffered = ''
  let ready: () => void
  let failed: (err: Error) => void
  const started = new Promise<void>((resolve, reject) => { ready = resolve; failed = reject })
  child.stdout!.setEncoding('utf8')
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line === 'ready') ready()
      else onLine?.(line)
    }
  })
  child.once('exit', code => failed(new Error(`${script} exited with ${String(code)} before it was ready`)))
  await started
  return child
}

/** Kills `child` with SIGKILL and waits until it is gone and its output read. */
export async function kill (child: ChildProcess): Promise<void> {
  const closed = new Promise(resolve => child.once('close', resolve))
  child.kill('SIGKILL')
  await closed
}

/** Closes the standard input of a child started with `stdin: true` (it closes and exits), and waits for it to go. */
export async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const closed = new Promise(resolve => child.once('close', resolve))
  child.stdin?.end()
  await closed
}
