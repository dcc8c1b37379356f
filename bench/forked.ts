// Sides of a workload run in a process of their own, forked for each run: a side that reads a
// whole database leaves memory behind in a process (heaps grown, table files mapped), which
// would count in the peaks of the sides measured after it in the same process, and what it
// leaves from the runs before would count in its own. The child watches its own memory over
// the side's run (memory.ts) and reports it with the timing; measure.ts takes that peak instead
// of its own process's.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Timing } from './measure.js'
import { watchMemory } from './memory.js'

/** A side a module can run in a child: its task (JSON) in, its timing out. */
export type Side = (task: any) => Promise<Timing> // eslint-disable-line @typescript-eslint/no-explicit-any

/** Runs side `side` of the module at `url` (one that calls {@link serveSides}) in a process of its own, with `task`. */
export async function inProcessOfItsOwn (url: string, side: string, task: unknown): Promise<Timing> {
  const child = fork(fileURLToPath(url), [side, JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] })
  return await new Promise<Timing>((resolve, reject) => {
    let timing: Timing | undefined
    child.once('message', (m: Timing) => { timing = m })
    child.once('error', reject)
    child.once('exit', code => { timing === undefined ? reject(new Error(`the side '${side}' exited with code ${String(code)}`)) : resolve(timing) })
  })
}

/**
 * In a module forked by {@link inProcessOfItsOwn} (`url` is the module's own): runs the side its
 * arguments name, watching this process's memory over the run, sends the timing with the peak
 * and lets the parent go. Does nothing when the module is imported rather than run.
 */
export function serveSides (url: string, sides: Record<string, Side>): void {
  if (process.argv[1] !== fileURLToPath(url)) return
  const [name, task] = process.argv.slice(2)
  const side = sides[name!]
  if (side === undefined) throw new Error(`no side '${String(name)}' in ${url}`)
  void (async () => {
    const stop = watchMemory()
    const timing = await side(JSON.parse(task!))
    process.send!({ ...timing, peak: stop() })
    process.disconnect()
  })()
}
