// The chart of the scale curve, as SVG written by hand (no dependency): one panel per workload,
// events per second (or ms per shred) against the number of events in the log on a log scale,
// annals as a solid line and raw classic-level dashed, each point the median of its runs with a
// whisker from the lowest to the highest run.
import type { Result, Stats } from './measure.js'

const W = 330
const H = 230
const PAD = { left: 62, right: 16, top: 30, bottom: 46 }
const COLUMNS = 3
const HEADER = 64
const FOOTER = 26
const STYLE = {
  annals: { color: '#1d4ed8', dash: '', label: 'annals' },
  raw: { color: '#c2410c', dash: '6 4', label: 'raw classic-level (the same I/O, same run)' }
}

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** 1k, 250k, 1.5M: a tick's label. */
export function compact (n: number): string {
  const trim = (x: number): string => String(Number(x.toPrecision(3)))
  if (n >= 1e6) return `${trim(n / 1e6)}M`
  if (n >= 1e3) return `${trim(n / 1e3)}k`
  return trim(n)
}

/** Ticks from 0 past `max`, at a step of 1, 2, 2.5 or 5 times a power of ten, about five of them. */
export function niceTicks (max: number): number[] {
  if (!(max > 0)) return [0, 1]
  const rough = max / 5
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 2.5, 5, 10].map(m => m * power).find(s => s >= rough)!
  const ticks = []
  for (let t = 0; t < max + step; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

interface Point { events: number, annals: Stats, raw: Stats | null }
interface Panel { series: string, title: string, perOp: boolean, points: Point[] }

/** Per-operation series are drawn in ms per operation: the rates' stats turned over. */
const asMs = (s: Stats): Stats => ({ median: 1000 / s.median, min: 1000 / s.max, max: 1000 / s.min })

function panels (results: Result[]): Panel[] {
  const curve = results.filter(r => r.series !== null && r.logEvents !== null)
  return [...new Set(curve.map(r => r.series!))].map(series => {
    const rs = curve.filter(r => r.series === series).sort((a, b) => a.logEvents! - b.logEvents!)
    const perOp = rs[0]!.unit === 'ops'
    const value = (s: Stats): Stats => perOp ? asMs(s) : s
    return {
      series,
      title: rs[0]!.name,
      perOp,
      points: rs.map(r => ({ events: r.logEvents!, annals: value(r.annals.rate), raw: r.baseline === null ? null : value(r.baseline.rate) }))
    }
  })
}

function panel (p: Panel, x0: number, y0: number): string {
  const plotW = W - PAD.left - PAD.right
  const plotH = H - PAD.top - PAD.bottom
  const sizes = p.points.map(q => q.events)
  let lo = Math.floor(Math.log10(Math.min(...sizes)))
  let hi = Math.ceil(Math.log10(Math.max(...sizes)))
  if (hi === lo) { lo -= 0.5; hi += 0.5 }
  const yTicks = niceTicks(Math.max(...p.points.flatMap(q => [q.annals.max, q.raw?.max ?? 0])))
  const yMax = yTicks.at(-1)!
  const x = (events: number): number => x0 + PAD.left + (Math.log10(events) - lo) / (hi - lo) * plotW
  const y = (v: number): number => y0 + PAD.top + plotH - v / yMax * plotH
  const out: string[] = [`<g class="panel" data-series="${escape(p.series)}">`]
  out.push(`<text class="title" x="${x0 + 16}" y="${y0 + 18}" font-weight="600">${escape(p.title)}</text>`)
  // axes: ticks, labels and faint grid lines
  out.push('<g class="axis y">')
  for (const t of yTicks) {
    out.push(`<line x1="${x0 + PAD.left}" x2="${x0 + W - PAD.right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e7eb"/>`,
      `<text x="${x0 + PAD.left - 6}" y="${y(t) + 4}" text-anchor="end">${compact(t)}</text>`)
  }
  const yLabel = p.perOp ? `ms per ${p.series}` : 'events per second'
  out.push(`<text class="label" transform="translate(${x0 + 14} ${y0 + PAD.top + plotH / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`, '</g>')
  out.push('<g class="axis x">')
  for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) {
    for (let m = 1; m < 10; m++) {
      const v = m * 10 ** d
      if (Math.log10(v) < lo - 1e-9 || Math.log10(v) > hi + 1e-9) continue
      const at = x(v).toFixed(1)
      // decades: a grid line and a label; between them, a short tick
      out.push(m === 1
        ? `<line x1="${at}" x2="${at}" y1="${y0 + PAD.top}" y2="${y(0) + 5}" stroke="#e5e7eb"/><text x="${at}" y="${y(0) + 17}" text-anchor="middle">${compact(v)}</text>`
        : `<line x1="${at}" x2="${at}" y1="${y(0)}" y2="${y(0) + 3}" stroke="#6b7280"/>`)
    }
  }
  out.push(`<line x1="${x0 + PAD.left}" x2="${x0 + W - PAD.right}" y1="${y(0)}" y2="${y(0)}" stroke="#6b7280"/>`,
    `<line x1="${x0 + PAD.left}" x2="${x0 + PAD.left}" y1="${y0 + PAD.top}" y2="${y(0)}" stroke="#6b7280"/>`,
    `<text class="label" x="${x0 + PAD.left + plotW / 2}" y="${y0 + H - 8}" text-anchor="middle">events in the log (log scale)</text>`, '</g>')
  // the series: a line through the medians, a marker and a whisker at each point
  for (const side of ['raw', 'annals'] as const) {
    const points = p.points.flatMap(q => q[side] === null ? [] : [{ at: x(q.events), s: q[side]! }])
    if (points.length === 0) continue
    const { color, dash } = STYLE[side]
    out.push(`<g class="series ${side}" stroke="${color}" fill="${color}">`)
    out.push(`<path d="${points.map((q, i) => `${i === 0 ? 'M' : 'L'}${q.at.toFixed(1)} ${y(q.s.median).toFixed(1)}`).join(' ')}" fill="none" stroke-width="2"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>`)
    for (const q of points) {
      out.push(`<line x1="${q.at}" x2="${q.at}" y1="${y(q.s.min).toFixed(1)}" y2="${y(q.s.max).toFixed(1)}" stroke-width="1.2"/>`)
      out.push(side === 'annals'
        ? `<circle cx="${q.at.toFixed(1)}" cy="${y(q.s.median).toFixed(1)}" r="3.5"/>`
        : `<rect x="${(q.at - 3.5).toFixed(1)}" y="${(y(q.s.median) - 3.5).toFixed(1)}" width="7" height="7"/>`)
    }
    out.push('</g>')
  }
  out.push('</g>')
  return out.join('\n')
}

/** The chart of the curve's results; `caption` says the machine and the run. */
export function chart (results: Result[], caption: string): string {
  const ps = panels(results)
  const rows = Math.max(1, Math.ceil(ps.length / COLUMNS))
  const width = W * Math.min(COLUMNS, Math.max(1, ps.length))
  const height = HEADER + rows * H + FOOTER
  const legend = (['annals', 'raw'] as const).map(side => {
    const { color, dash, label } = STYLE[side]
    const x = side === 'annals' ? 16 : 100
    return `<g class="legend ${side}"><line x1="${x}" x2="${x + 28}" y1="44" y2="44" stroke="${color}" stroke-width="2"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>` +
      `<text x="${x + 34}" y="48">${escape(label)}</text></g>`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="11" fill="#111827">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    '<text x="16" y="24" font-size="15" font-weight="600">annals beside raw classic-level as the log grows</text>',
    ...legend,
    '<text x="400" y="48" fill="#6b7280">each point: the median of the runs; whisker: lowest to highest run</text>',
    ...ps.map((p, i) => panel(p, (i % COLUMNS) * W, HEADER + Math.floor(i / COLUMNS) * H)),
    `<text x="16" y="${height - 9}" fill="#6b7280">${escape(caption)}</text>`,
    '</svg>',
    ''
  ].join('\n')
}
