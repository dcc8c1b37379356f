// One task of the benchmark run (an area of workloads, at a log size where it has one), in a
// process of its own so that its memory figures count nothing of the others'. bench/run.ts
// forks it as `child.js <area> <events> <options…>` with --expose-gc and hears of each
// workload, each run and each result over the IPC channel.
import { aggregateWorkloads } from './aggregates.js'
import { appendWorkloads, curveAppends } from './appends.js'
import { buildCategoryLog, categoryWorkloads, conditionalWorkloads } from './consistency.js'
import { diagnosticsWorkloads } from './diagnostics.js'
import { buildScavengeLog, scavengeWorkloads } from './lifecycle.js'
import { measure, type Result, type Workload } from './measure.js'
import { parseOptions, runsAt, type Config } from './options.js'
import { postgresWorkloads } from './postgres.js'
import { processWorkloads } from './processes.js'
import { benchPostgresUrl } from './postgres-lib.js'
import { buildShredLog, privacyWorkloads, shredWorkload } from './privacy.js'
import { projectionWorkloads } from './projections.js'
import { buildLog, readWorkloads } from './reads.js'
import { buildStreams, streamWorkloads } from './streams.js'

interface Area { workloads: Workload[], close?: () => Promise<void> }

export const areas = {
  appends: async (c: Config): Promise<Area> => ({ workloads: appendWorkloads(c) }),
  diagnostics: diagnosticsWorkloads,
  processes: processWorkloads,
  aggregates: aggregateWorkloads,
  projections: projectionWorkloads,
  privacy: async (c: Config): Promise<Area> => ({ workloads: privacyWorkloads(c) }),
  'streams-build': async (c: Config): Promise<Area> => { await buildStreams(c); return { workloads: [] } },
  streams: streamWorkloads,
  'scale-appends': async (c: Config, events: number): Promise<Area> => ({ workloads: curveAppends(c, events) }),
  'scale-build': async (c: Config, events: number): Promise<Area> => { await buildLog(c, events); return { workloads: [] } },
  'scale-reads': readWorkloads,
  'shred-build': async (c: Config, events: number): Promise<Area> => { await buildShredLog(c, events); return { workloads: [] } },
  shred: shredWorkload,
  conditions: async (c: Config): Promise<Area> => ({ workloads: conditionalWorkloads(c) }),
  'category-build': async (c: Config, events: number): Promise<Area> => { await buildCategoryLog(c, events); return { workloads: [] } },
  category: categoryWorkloads,
  'scavenge-build': async (c: Config): Promise<Area> => { await buildScavengeLog(c); return { workloads: [] } },
  scavenge: scavengeWorkloads,
  postgres: async (c: Config): Promise<Area> => {
    const url = benchPostgresUrl()
    if (url === undefined) throw new Error('the postgres area needs ANNALS_BENCH_POSTGRES, the URL of a server')
    return await postgresWorkloads(c, url)
  }
} satisfies Record<string, (c: Config, events: number) => Promise<Area>>

export type AreaName = keyof typeof areas

/** What a child tells the runner. */
export type Message =
  | { type: 'workload', name: string, runs: number }
  | { type: 'run', run: number }
  | { type: 'result', result: Result }

if (process.send !== undefined) {
  const [area, events, ...argv] = process.argv.slice(2)
  const send = (m: Message): void => { process.send!(m) }
  const config = parseOptions(argv)
  const { workloads, close } = await areas[area as AreaName](config, Number(events))
  try {
    const { runs, warm } = runsAt(config, Number(events))
    for (const w of workloads) {
      send({ type: 'workload', name: w.name, runs })
      const result = await measure(w, area!, runs, warm, run => send({ type: 'run', run }))
      send({ type: 'result', result })
    }
  } finally {
    await close?.()
  }
  process.disconnect()
}
