// Runs the built `annals` command as a child process, as a user would, and collects what it
// printed and how it ended. Without a terminal: no colour, no progress bars, no prompts.
import { execFile } from 'node:child_process'
import { constants } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertBuilt } from './child.js'

/** The built command's entry point. */
export const cliMain = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'src', 'cli', 'main.js')

export interface CliResult {
  /** the exit code; 128 + the signal's number when a signal ended it */
  code: number
  /** the signal that ended it, if one did (SIGABRT: an assertion of native code) */
  signal?: NodeJS.Signals
  stdout: string
  stderr: string
}

/** Runs `annals ...args`; `input` is written to its standard input. */
export async function annals (args: string[], options: { env?: Record<string, string>, input?: string, cwd?: string } = {}): Promise<CliResult> {
  assertBuilt()
  return await new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
    delete env.FORCE_COLOR
    delete env.ANNALS_MASTER_KEY
    Object.assign(env, options.env)
    const child = execFile(process.execPath, [cliMain, ...args], { env, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const { code, signal } = (err ?? { code: 0 }) as { code?: unknown, signal?: NodeJS.Signals | null }
      if (typeof signal === 'string') resolve({ code: 128 + constants.signals[signal], signal, stdout, stderr })
      else if (typeof code !== 'number') reject(err)
      else resolve({ code, stdout, stderr })
    })
    child.stdin!.end(options.input ?? '')
  })
}

/** The lines of JSON Lines output, parsed. */
export function jsonLines (text: string): Array<Record<string, unknown>> {
  return text.split('\n').filter(line => line !== '').map(line => JSON.parse(line) as Record<string, unknown>)
}
