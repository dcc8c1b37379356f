// The global log with the time slider: the slider runs over positions (one step per event) or
// over commit times; the events around its moment are listed, and the panels show an
// aggregate's state and a view's documents as they were then, with what the next event changed.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { EventRow, EventsPage, Moment, Overview } from '../api-types.js'
import { api } from './api.js'
import { EventCard, EventLine } from './events.js'
import { count, iso } from './format.js'
import type { Live } from './main.js'
import { AggregatePanel, atKey, ViewPanel, type At } from './panels.js'
import { replaceParams } from './route.js'

type Mode = 'position' | 'time'

/** Events listed before and after the slider's moment. */
const AROUND = 6

function number (text: string | null): number | undefined {
  return text !== null && /^\d+$/.test(text) ? Number(text) : undefined
}

export function LogPage ({ params, live, info }: { params: URLSearchParams, live: Live, info: Overview }): VNode {
  const head = live.head ?? { position: info.events - 1, time: info.lastTime }
  const [mode, setMode] = useState<Mode>(params.get('mode') === 'time' ? 'time' : 'position')
  // the slider's value: a position, or a time in ms
  const [value, setValue] = useState<number>(() => {
    if (mode === 'time') return number(params.get('time')) ?? head.time ?? 0
    return Math.min(number(params.get('position')) ?? head.position, head.position)
  })
  const [follow, setFollow] = useState(params.get('position') === null && params.get('time') === null)
  const [at, setAt] = useState<At>(mode === 'time' ? { time: value } : { position: value })
  const [moment, setMoment] = useState<Moment | undefined>(undefined)
  const [around, setAround] = useState<EventRow[]>([])
  const [error, setError] = useState<string | undefined>(undefined)
  const choices = useRef<Record<string, string | undefined>>({
    aggregate: params.get('aggregate') ?? undefined, stream: params.get('stream') ?? undefined,
    view: params.get('view') ?? undefined, prefix: params.get('prefix') ?? undefined
  })
  const keepAddress = (): void => {
    replaceParams('log', { mode: mode === 'time' ? 'time' : undefined, ...'position' in at ? { position: at.position } : { time: at.time }, ...choices.current })
  }

  // the slider settles: its moment is asked for a little after it stops moving
  useEffect(() => {
    const timer = setTimeout(() => { setAt(mode === 'time' ? { time: value } : { position: value }) }, 80)
    return () => { clearTimeout(timer) }
  }, [value, mode])
  useEffect(() => {
    keepAddress()
    if (head.position < 0) return
    let stale = false
    api<Moment>('moment', 'position' in at ? { position: at.position } : { time: at.time }).then(async m => {
      if (stale) return
      setMoment(m)
      const page = await api<EventsPage>('log', { from: Math.max(0, m.position - AROUND), limit: AROUND * 2 + 1 })
      if (!stale) setAround(page.events)
      setError(undefined)
    }).catch((err: Error) => { if (!stale) setError(err.message) })
    return () => { stale = true }
  }, [atKey(at)])
  // following the head: new events move the slider along
  useEffect(() => {
    if (!follow || head.position < 0) return
    setValue(mode === 'time' ? head.time ?? 0 : head.position)
  }, [follow, head.position])

  if (head.position < 0) return html`<section class="card"><h2>Log</h2><p class="muted">The log is empty.</p></section>`
  const first = info.firstTime ?? head.time ?? 0
  const min = mode === 'time' ? first : 0
  const max = mode === 'time' ? Math.max(head.time ?? first, first) : head.position
  const position = moment?.position ?? -1
  const event = around.find(e => e.position === position)
  const move = (to: number): void => {
    setFollow(to >= max)
    setValue(Math.max(min, Math.min(max, to)))
  }
  const pick = (e: EventRow): void => { move(mode === 'time' ? e.time : e.position) }
  const step = (by: -1 | 1): void => {
    if (mode === 'position') {
      move(value + by)
      return
    }
    const target = around.find(x => x.position === position + by)
    if (target !== undefined) move(target.time)
    else if (by < 0 && position <= 0) move(min)
  }
  const switchMode = (to: Mode): void => {
    if (to === mode) return
    setMode(to)
    if (to === 'time') setValue(moment?.time ?? first)
    else setValue(Math.max(0, position))
  }
  return html`
    <section class="card slider-card">
      <div class="slider-head">
        <h2>Time slider</h2>
        <div class="modes" role="group" aria-label="the slider runs over">
          <button type="button" class=${mode === 'position' ? 'active' : ''} data-testid="mode-position" onClick=${() => { switchMode('position') }}>positions</button>
          <button type="button" class=${mode === 'time' ? 'active' : ''} data-testid="mode-time" onClick=${() => { switchMode('time') }}>commit times</button>
        </div>
        <label class="follow"><input type="checkbox" data-testid="follow" checked=${follow} onChange=${(e: Event) => { setFollow((e.target as HTMLInputElement).checked) }} /> follow new events</label>
      </div>
      <div class="slider-row">
        <button type="button" data-testid="back" title="one event back" onClick=${() => { step(-1) }}>◀</button>
        <input type="range" data-testid="slider" min=${min} max=${max} step="1" value=${value}
          aria-label=${mode === 'time' ? 'commit time' : 'position'}
          onInput=${(e: Event) => { setFollow(false); setValue(Number((e.target as HTMLInputElement).value)) }} />
        <button type="button" data-testid="forward" title="one event on" onClick=${() => { step(1) }}>▶</button>
      </div>
      <div class="scale muted"><span>${mode === 'time' ? iso(min) : '#0'}</span><span>${mode === 'time' ? iso(max) : `#${count(max)}`}</span></div>
      <p class="moment" data-testid="moment" data-position=${moment === undefined ? '' : String(moment.position)} data-for=${moment === undefined ? '' : atKey(at)}>
        ${mode === 'time'
          ? html`at <b>${iso(value)}</b>: ${position < 0 ? 'before the first event' : html`after position <b>#${count(position)}</b>`}`
          : html`after position <b>#${count(value)}</b>${moment?.time == null ? '' : html`, committed <b>${iso(moment.time)}</b>`}`}
        ${event === undefined ? '' : html` · <span class="type">${event.type}</span> in <span class="stream">${event.stream}</span>`}
      </p>
      ${error === undefined ? null : html`<p class="error">${error}</p>`}
    </section>
    <div class="columns three">
      <section class="card">
        <h3>Events around this moment</h3>
        <ul class="events" data-testid="around">${around.map(e => html`<${EventLine} key=${e.position} event=${e} onPick=${pick}
          mark=${e.position === position ? 'this moment' : e.position === position + 1 ? 'next' : undefined} />`)}</ul>
        ${event === undefined ? null : html`<h3>The event at #${count(event.position)}</h3><${EventCard} event=${event} />`}
      </section>
      <${AggregatePanel} aggregates=${info.aggregates} at=${at} defaultStream=${event?.stream} initial=${choices.current}
        onPick=${pick} onChange=${(c: { aggregate: string, stream: string }) => { Object.assign(choices.current, { aggregate: c.aggregate, stream: c.stream }); keepAddress() }} />
      <${ViewPanel} views=${info.views} at=${at} initial=${choices.current}
        onPick=${pick} onChange=${(c: { view: string, prefix: string }) => { Object.assign(choices.current, c); keepAddress() }} />
    </div>`
}
