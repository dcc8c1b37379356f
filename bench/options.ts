// The options of `npm run bench` and `annals bench`: the size of the run, the user's shape of
// data, where the results go. A bad option is a usage error: a message and exit code 2.
import { parseArgs } from 'node:util'
import { defaultShape, type Shape } from './lib.js'

export const usage = `usage: npm run bench -- [options]    (or: annals bench [options])

  --events <n>           the largest log of the scale curve (default 1,000,000; --quick 100,000)
  --streams <n>          streams the events spread over (default 1,000)
  --event-size <bytes>   bytes of each event's data, msgpack-encoded (default 250)
  --personal-fields <n>  personal fields per event in the personal-data workloads (default 2)
  --quick                a whole run in under a minute: smaller sizes, 3 runs
  --tiny                 a run of seconds, to check that it works (used by the tests)
  --large                adds a log of 10,000,000 events to the scale curve (same as --events 10000000)
  --runs <n>             runs of each workload; the median is reported (default 5; --quick 3)
  --out <file.json>      where the figures go (default annals-bench.json)
  --svg <file.svg>       where the chart goes (default annals-bench.svg)
  --no-write             do not rewrite docs/benchmarks.md (annals bench never does)

  ANNALS_BENCH_POSTGRES=<url> in the environment adds the PostgreSQL rows, measured on that server`

export class UsageError extends Error {}

export type Mode = 'tiny' | 'quick' | 'full'

/** Sizes of the workloads off the scale curve, by mode. */
export interface Sizes {
  /** events of the append workloads off the curve: an inline projection, personal fields */
  appends: number
  /** events of appends awaited one at a time */
  awaited: number
  /** events of awaited appends with sync: one fsync each */
  syncAwaited: number
  /** aggregates: a short and a long stream, loads timed per run, load-then-append commands */
  short: number
  long: number
  loads: number
  /** loads without snapshots: of the short stream, and of the long one (each folds the whole stream) */
  loadsWithout: number
  longLoadsWithout: number
  /** load-then-append commands of 64 clients */
  commands: number
  /** changes of the view read as of past positions, and the gets timed per run */
  viewChanges: number
  gets: number
  /** subjects shredded per run, and the largest database shredded */
  shreds: number
  shredMax: number
  /** streams of 100 events, written interleaved and each read whole */
  shortStreams: number
}

// Aggregate streams go half an interval past their last snapshot, as a stream does on average:
// a load reads a snapshot and folds 50 events. (At an exact multiple of 100 it folds none.)
const sizes: Record<Mode, Sizes> = {
  tiny: { appends: 2000, awaited: 200, syncAwaited: 20, short: 150, long: 2050, loads: 20, loadsWithout: 5, longLoadsWithout: 1, commands: 2000, viewChanges: 2000, gets: 20, shreds: 3, shredMax: 3000, shortStreams: 20 },
  quick: { appends: 20_000, awaited: 2000, syncAwaited: 200, short: 1050, long: 100_050, loads: 100, loadsWithout: 20, longLoadsWithout: 1, commands: 5000, viewChanges: 100_000, gets: 200, shreds: 5, shredMax: 100_000, shortStreams: 300 },
  full: { appends: 50_000, awaited: 10_000, syncAwaited: 1000, short: 1050, long: 100_050, loads: 300, loadsWithout: 100, longLoadsWithout: 1, commands: 10_000, viewChanges: 100_000, gets: 1000, shreds: 9, shredMax: 1_000_000, shortStreams: 1000 }
}

export interface Config {
  mode: Mode
  sizes: Sizes
  shape: Shape
  /** runs of each workload, and whether the user chose it */
  runs: number
  runsGiven: boolean
  /** the log sizes of the scale curve, smallest first */
  curve: number[]
  out: string
  svg: string
  write: boolean
  /** the command as typed, for the record */
  command: string
}

function count (name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} expects a whole number from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}, not '${value}'`)
  }
  return n
}

/** The log sizes of the curve: each power of ten from `from` below `events`, then `events`. */
export function curveSizes (events: number, from: number): number[] {
  const out: number[] = []
  for (let n = from; n < events; n *= 10) out.push(n)
  return [...out, events]
}

/**
 * Reads the command line; throws a {@link UsageError} on anything it does not understand. `as`
 * is how the run was asked for, for the record: `annals bench` sets it.
 */
export function parseOptions (argv: string[], as = 'npm run bench --'): Config {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        events: { type: 'string' },
        streams: { type: 'string' },
        'event-size': { type: 'string' },
        'personal-fields': { type: 'string' },
        quick: { type: 'boolean', default: false },
        tiny: { type: 'boolean', default: false },
        large: { type: 'boolean', default: false },
        runs: { type: 'string' },
        out: { type: 'string', default: 'annals-bench.json' },
        svg: { type: 'string', default: 'annals-bench.svg' },
        'no-write': { type: 'boolean', default: false }
      }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.tiny && (values.quick || values.large)) throw new UsageError('--tiny cannot go with --quick or --large')
  if (values.large && values.events !== undefined) throw new UsageError('--large is --events 10000000: give one of them')
  const mode: Mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full'
  const events = values.large ? 10_000_000 : count('events', values.events, 100, 1_000_000_000) ?? { tiny: 3000, quick: 100_000, full: 1_000_000 }[mode]
  const runs = count('runs', values.runs, 1, 1000)
  const shape: Shape = {
    streams: count('streams', values.streams, 1, events) ?? Math.min(defaultShape.streams, events),
    eventSize: count('event-size', values['event-size'], 16, 4 * 1024 * 1024 - 1024) ?? defaultShape.eventSize,
    personalFields: count('personal-fields', values['personal-fields'], 1, 100) ?? defaultShape.personalFields
  }
  for (const [name, file] of [['out', values.out], ['svg', values.svg]] as const) {
    if (file === '') throw new UsageError(`--${name} expects a file name`)
  }
  const shown = argv.filter(a => a !== '--no-write')
  return {
    mode,
    sizes: sizes[mode],
    shape,
    runs: runs ?? { tiny: 1, quick: 3, full: 5 }[mode],
    runsGiven: runs !== undefined,
    curve: curveSizes(events, mode === 'tiny' ? 1000 : 10_000),
    out: values.out,
    svg: values.svg,
    write: !values['no-write'] && mode === 'full',
    command: shown.length > 0 ? [as, ...shown].join(' ') : as.replace(/ --$/, '')
  }
}

/**
 * Runs of a workload on a log of `events` events (0 off the curve): long ones are run fewer times
 * unless the user chose (3 at 1,000,000 events, 1 at 10,000,000), and only short ones get an
 * untimed first round (long ones warm up within the run).
 */
export function runsAt (config: Config, events: number): { runs: number, warm: boolean } {
  const runs = config.runsGiven ? config.runs : events >= 10_000_000 ? 1 : events >= 1_000_000 ? Math.min(3, config.runs) : config.runs
  return { runs, warm: runs > 1 && events < 100_000 }
}
