// The overview: what the database holds (as `annals info` says), appends over time as a chart,
// projections and durable subscriptions with their lag (live), and the latest events.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { EventRow, EventsPage, Overview, Rate } from '../api-types.js'
import { api } from './api.js'
import { RateChart } from './chart.js'
import { EventLine } from './events.js'
import { ago, bytes, count, iso, rate as perSecond } from './format.js'
import type { Live } from './main.js'

/** Figures are fetched again after appends, at most this often (ms). */
const REFRESH_MS = 3000

export function OverviewPage ({ live }: { live: Live }): VNode {
  const [info, setInfo] = useState<Overview | undefined>(undefined)
  const [rate, setRate] = useState<Rate | undefined>(undefined)
  const [latest, setLatest] = useState<EventRow[]>([])
  const [error, setError] = useState<string | undefined>(undefined)
  const last = useRef(0)
  useEffect(() => {
    let timer: number | undefined
    const load = (): void => {
      last.current = Date.now()
      Promise.all([api<Overview>('overview'), api<Rate>('rate', { buckets: 120 }), api<EventsPage>('log', { backwards: true, limit: 10 })])
        .then(([o, r, l]) => {
          setInfo(o)
          setRate(r)
          setLatest(l.events)
          setError(undefined)
        }, (err: Error) => { setError(err.message) })
    }
    const wait = last.current + REFRESH_MS - Date.now()
    if (wait <= 0) load()
    else timer = setTimeout(load, wait)
    return () => { clearTimeout(timer) }
  }, [live.appends])
  if (info === undefined) return html`<p class="muted">${error ?? 'loading…'}</p>`
  const progress = live.progress
  const projections = progress?.projections ?? info.projections
  const subscriptions = progress?.subscriptions ?? info.subscriptions
  const head = live.head ?? { position: info.events - 1, time: info.lastTime }
  const events = Math.max(info.events, head.position + 1)
  // the latest events: those fetched, and any that arrived live since
  const newest = [...latest].reverse()
  for (const e of live.recent) if (e.position > (newest.at(-1)?.position ?? -1)) newest.push(e)
  const peak = rate === undefined || rate.perSecond.length === 0 ? 0 : Math.max(...rate.perSecond)
  return html`
    <section class="figures" data-testid="figures">
      <div class="figure"><b data-testid="events-count">${count(events)}</b><span>events</span></div>
      <div class="figure"><b>${count(info.streams)}</b><span>streams</span></div>
      <div class="figure"><b class="time">${iso(info.firstTime).replace('T', ' ')}</b><span>first commit</span></div>
      <div class="figure"><b class="time">${iso(head.time).replace('T', ' ')}</b><span>last commit ${ago(head.time)}</span></div>
      <div class="figure"><b>${bytes(info.sizeBytes)}</b><span>on disk</span></div>
      <div class="figure"><b>${count(info.shreddedSubjects)}</b><span>shredded subjects</span></div>
    </section>
    ${error === undefined ? null : html`<p class="error">${error}</p>`}
    <section class="card">
      <h2>Appends over time</h2>
      ${rate === undefined || rate.perSecond.length === 0
        ? html`<p class="muted">no events yet</p>`
        : html`
          <${RateChart} rate=${rate} />
          <p class="muted small">events per second, in buckets of ${rate.step >= 1000 ? `${count(Math.round(rate.step / 1000))} s` : `${rate.step} ms`}; peak ${perSecond(peak)}${rate.sampled ? '; commit times sampled at 2,000 positions' : ''}</p>`}
    </section>
    <div class="columns">
      <section class="card">
        <h2>Projections</h2>
        ${projections.length === 0
          ? html`<p class="muted">none</p>`
          : html`<table data-testid="projections">
              <thead><tr><th>view</th><th>handled up to</th><th>lag</th><th>state</th></tr></thead>
              <tbody>${projections.map(p => html`
                <tr data-name=${p.name}>
                  <td>${p.name} <span class="muted">v${p.version}</span>${p.running ? html` <span class="badge" title="run by this page (given with --module): its state is live">running here</span>` : null}</td>
                  <td class="num">#${count(p.position)}</td>
                  <td class="num" data-testid="lag">${count(p.lag)}</td>
                  <td><span class=${`state ${p.lag === 0 && p.state !== 'failed' ? 'ok' : 'behind'}`}>${p.state}</span></td>
                </tr>`)}</tbody>
            </table>`}
        <h2>Durable subscriptions</h2>
        ${subscriptions.length === 0
          ? html`<p class="muted">none</p>`
          : html`<table data-testid="subscriptions">
              <thead><tr><th>name</th><th>handled up to</th><th>lag</th></tr></thead>
              <tbody>${subscriptions.map(s => html`
                <tr data-name=${s.name}><td>${s.name}</td><td class="num">#${count(s.position)}</td><td class="num" data-testid="lag">${count(s.lag)}</td></tr>`)}</tbody>
            </table>`}
        <h2>Snapshots</h2>
        ${info.snapshots.length === 0
          ? html`<p class="muted">none</p>`
          : html`<ul class="plain">${info.snapshots.map(s => html`<li>${s.aggregate} <span class="muted">v${s.version}</span>: ${count(s.count)}</li>`)}</ul>`}
      </section>
      <section class="card">
        <h2>Latest events</h2>
        ${newest.length === 0
          ? html`<p class="muted">none yet</p>`
          : html`<ul class="events" data-testid="latest">${newest.slice(-10).reverse().map(e => html`<${EventLine} key=${e.position} event=${e} />`)}</ul>`}
      </section>
    </div>`
}
