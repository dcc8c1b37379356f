// What commands print: colour on a terminal only, lines written with backpressure (an export
// of millions of events never piles up in memory), progress bars on a terminal only, and
// events and values laid out for a person.
import { inspect } from 'node:util'
import cliProgress from 'cli-progress'
import pc from 'picocolors'
import type { RecordedEvent } from '../log/types.js'
import { toJsonValue } from './json-value.js'

type Colors = ReturnType<typeof pc.createColors>

/** Whether a stream is a terminal that takes colour: NO_COLOR and FORCE_COLOR are obeyed. */
function colorful (stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true
  return stream.isTTY === true && process.env.TERM !== 'dumb'
}

/** Colours for standard output: none unless it is a terminal. */
export const color: Colors = pc.createColors(colorful(process.stdout))
/** Colours for standard error, where messages go. */
export const errorColor: Colors = pc.createColors(colorful(process.stderr))

/** Whether standard input and output are a terminal a person types at. */
export function interactive (): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true
}

/**
 * A destination of lines: standard output or a file. {@link write} waits when the destination
 * is full, so memory stays flat however much is written.
 */
export class Lines {
  readonly #stream: NodeJS.WritableStream
  #broken = false
  #error: Error | undefined

  constructor (stream: NodeJS.WritableStream = process.stdout) {
    this.#stream = stream
    // a reader that went away (`annals read ... | head`) ends the output quietly; any other
    // failure (a full disk) fails the next write
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.#broken = true
      else this.#error ??= err
    })
  }

  /** Whether the reader went away: stop producing. */
  get closed (): boolean {
    return this.#broken
  }

  /** Writes `text` and a newline; resolves when the destination can take more. */
  async write (text: string): Promise<void> {
    if (this.#error !== undefined) throw this.#error
    if (this.#broken) return
    if (!this.#stream.write(text + '\n')) {
      await new Promise<void>(resolve => {
        const done = (): void => {
          this.#stream.off('drain', done)
          this.#stream.off('error', done)
          resolve()
        }
        this.#stream.on('drain', done)
        this.#stream.on('error', done)
      })
    }
  }
}

/** A progress bar on standard error when it is a terminal; otherwise nothing is drawn. */
export interface Progress {
  /** Moves the bar to `value` (of the total). */
  update (value: number): void
  stop (): void
}

/** A progress bar of `total` units named `label`, on a terminal only. */
export function progress (label: string, total: number, unit = 'events'): Progress {
  if (process.stderr.isTTY !== true || total <= 0) return { update () {}, stop () {} }
  const bar = new cliProgress.SingleBar({
    format: `${label} {bar} {percentage}% | {value}/{total} ${unit} | {eta_formatted} left`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    etaBuffer: 50
  }, cliProgress.Presets.shades_classic)
  bar.start(total, 0)
  let stopped = false
  return {
    update (value: number) { bar.update(Math.min(value, total)) },
    stop () {
      if (stopped) return
      stopped = true
      bar.stop()
    }
  }
}

/** A moment as ISO 8601 in UTC, to the millisecond. */
export function isoTime (ms: number): string {
  return new Date(ms).toISOString()
}

/** A count with thousands separators. */
export function count (n: number): string {
  return n.toLocaleString('en-US')
}

/** A number of bytes in B, kB, MB or GB. */
export function bytes (n: number): string {
  if (n < 1000) return `${n} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = n
  let unit = ''
  for (const u of units) {
    value /= 1000
    unit = u
    if (value < 1000) break
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`
}

/** A value for a person: util.inspect's form, coloured on a terminal, nested lines indented. */
export function pretty (value: unknown, indent = '', colors = color.isColorSupported): string {
  return inspect(value, { depth: null, colors, breakLength: 100, maxArrayLength: 200, maxStringLength: 2000 })
    .split('\n').join('\n' + indent)
}

/** The first line of an event for a person: position, type, stream@revision, commit time. */
export function eventHeader (e: RecordedEvent): string {
  return `${color.bold(color.yellow(`#${e.position}`))} ${color.bold(color.green(e.type))}${e.version === 1 ? '' : color.dim(` v${e.version}`)}  ${color.cyan(e.stream)}${color.dim('@')}${e.revision}  ${color.dim(isoTime(e.time))}`
}

/** An event for a person: a header line, then its id, data and metadata, indented. */
export function humanEvent (e: RecordedEvent): string {
  const lines = [
    eventHeader(e),
    `  ${color.dim('id')}       ${e.id}`,
    `  ${color.dim('data')}     ${pretty(e.data, '           ')}`
  ]
  if (Object.keys(e.metadata).length > 0) lines.push(`  ${color.dim('metadata')} ${pretty(e.metadata, '           ')}`)
  if (e.redacted !== undefined) lines.push(`  ${color.dim('redacted')} ${color.red(e.redacted.join(', '))} ${color.dim('(shredded: read as null)')}`)
  return lines.join('\n')
}

/**
 * An event as JSON, with the field names of RecordedEvent in their order, values that JSON
 * cannot say tagged (see json-value.ts); `extra` fields follow.
 */
export function eventJson (e: RecordedEvent, extra?: Record<string, unknown>): Record<string, unknown> {
  const line: Record<string, unknown> = {
    id: e.id,
    stream: e.stream,
    revision: e.revision,
    position: e.position,
    type: e.type,
    version: e.version,
    data: toJsonValue(e.data),
    metadata: toJsonValue(e.metadata),
    time: e.time
  }
  if (e.tags !== undefined) line.tags = e.tags
  if (e.redacted !== undefined) line.redacted = e.redacted
  if (extra !== undefined) Object.assign(line, extra)
  return line
}

/** {@link eventJson} as one line of JSON. */
export function jsonEvent (e: RecordedEvent, extra?: Record<string, unknown>): string {
  return JSON.stringify(eventJson(e, extra))
}
