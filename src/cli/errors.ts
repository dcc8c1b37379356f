// What the command line says when something goes wrong, and the exit code it ends with. Every
// failure a user can meet is explained in a sentence or two, with what to do next; only a bug
// of annals itself shows a stack trace, and then only with ANNALS_DEBUG=1.
import { AnnalsError } from '../errors.js'

/**
 * The exit codes of `annals`, documented in docs/cli.md. They never change meaning.
 *
 * @example
 * ```ts
 * if (result.status === ExitCode.locked) console.error('close the application first')
 * ```
 */
export const ExitCode = {
  /** it worked */
  ok: 0,
  /** the command ran and found a problem: `verify` found damage; `replay --until` never held */
  problem: 1,
  /** bad usage: an unknown command or option, a bad value, a bad input file; nothing was changed */
  usage: 2,
  /** no database at that path, or no such file, module or export */
  notFound: 3,
  /** the database is open in another process that admits no other, or refuses this one */
  locked: 4,
  /** the master key is missing or wrong */
  key: 5,
  /** the database is damaged, or of a newer format */
  corrupt: 6,
  /** your code (an aggregate or projection module, an `--until` expression) threw */
  userCode: 7,
  /** anything else: the storage failed, or a bug of annals */
  failure: 70
} as const

/** A failure with its message for the user and its exit code. */
export class CliError extends Error {
  readonly exitCode: number

  constructor (message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.exitCode = exitCode
  }

  override get name (): string {
    return 'CliError'
  }
}

/** Bad usage: exit code 2. */
export function usage (message: string): CliError {
  return new CliError(message, ExitCode.usage)
}

/** The message and exit code of any error a command ends with. */
export function explain (err: unknown, dir?: string): CliError {
  if (err instanceof CliError) return err
  if (!(err instanceof AnnalsError)) {
    return new CliError(`annals failed: ${(err as Error)?.message ?? String(err)}`, ExitCode.failure, { cause: err })
  }
  const where = dir === undefined ? 'The database' : `The database at ${dir}`
  switch (err.code) {
    case 'ANNALS_LOCKED':
      return new CliError(`${where} is open in another process that admits no other (opened with exclusive: true, or by a command that needs the folder to itself).\n` +
        `${err.message}.\nRun this again once it is closed; for a copy of a live database, use \`annals backup\`.`, ExitCode.locked, { cause: err })
    case 'ANNALS_ACCESS_DENIED':
      return new CliError(`${where} is open in another process, which refuses this one: ${err.message}.\n` +
        'Run annals as the user that owns the database folder.', ExitCode.locked, { cause: err })
    case 'ANNALS_WRONG_KEY':
      return new CliError(`${err.message}.\nGive the master key with --master-key-file <file> (32 bytes, or 64 hex digits, or base64), ` +
        'or in the environment variable ANNALS_MASTER_KEY (hex or base64).', ExitCode.key, { cause: err })
    case 'ANNALS_CORRUPT':
      return new CliError(`${where} is damaged: ${err.message}.\nRun \`annals verify\` on it for a full report; restore from a backup.`, ExitCode.corrupt, { cause: err })
    case 'ANNALS_UNSUPPORTED_FORMAT':
      return new CliError(`${err.message}: upgrade annals to read it.`, ExitCode.corrupt, { cause: err })
    case 'ANNALS_SEALED':
      return new CliError(err.message, ExitCode.userCode, { cause: err })
    case 'ANNALS_UPCAST_FAILED':
      return new CliError(`${err.message}\nFix the step (in the module of --events), or check all stored events with \`annals verify --events\`.`, ExitCode.userCode, { cause: err })
    case 'ANNALS_AGGREGATE_FAILED': {
      const cause = err.cause as Error | undefined
      return new CliError(`${err.message}${cause?.message === undefined ? '' : `: ${cause.message}`}`, ExitCode.userCode, { cause: err })
    }
    case 'ANNALS_INVALID_EVENT':
    case 'ANNALS_DUPLICATE_ID':
    case 'ANNALS_EVENT_TOO_LARGE':
      return new CliError(err.message, ExitCode.usage, { cause: err })
    default:
      return new CliError(`${err.message} (${err.code})`, ExitCode.failure, { cause: err })
  }
}
