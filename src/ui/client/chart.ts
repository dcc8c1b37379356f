// The rate of appends over time, drawn by uPlot: events per second in buckets of equal length.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import type { Rate } from '../api-types.js'

/** The chart's series: bucket starts (seconds since the epoch, uPlot's time unit) and rates. */
function series (rate: Rate): uPlot.AlignedData {
  return [rate.perSecond.map((_, i) => (rate.start + i * rate.step) / 1000), rate.perSecond]
}

/** The chart; redrawn with new data, resized with its box. */
export function RateChart ({ rate }: { rate: Rate }): VNode {
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  useEffect(() => {
    const el = box.current!
    plot.current = new uPlot({
      width: Math.max(300, el.clientWidth),
      height: 220,
      scales: { x: { time: true } },
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        { label: 'events/s', stroke: '#2f6f4f', fill: 'rgba(47, 111, 79, 0.15)', width: 1.5, paths: uPlot.paths.stepped!({ align: 1 }) }
      ],
      axes: [
        { stroke: '#555', grid: { stroke: '#eee' } },
        { stroke: '#555', grid: { stroke: '#eee' }, size: 60, values: (_u, ticks) => ticks.map(t => t >= 1000 ? `${Math.round(t / 100) / 10}k` : String(Math.round(t * 100) / 100)) }
      ]
    }, series(rate), el)
    const resize = new ResizeObserver(() => { plot.current?.setSize({ width: Math.max(300, el.clientWidth), height: 220 }) })
    resize.observe(el)
    return () => {
      resize.disconnect()
      plot.current?.destroy()
      plot.current = null
    }
  }, [])
  useEffect(() => { plot.current?.setData(series(rate)) }, [rate])
  return html`<div class="chart" ref=${box} data-testid="rate-chart" data-buckets=${rate.perSecond.length}></div>`
}
