// What the time slider shows as of its moment: an aggregate's state (`db.load` with `at`) and a
// view's documents (`view.at`), each with the next event that changes it and what it changed.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { AggregateAt, EventRow, NextChange, ViewAt } from '../api-types.js'
import { api } from './api.js'
import { EventLine } from './events.js'
import { count, iso } from './format.js'
import { Changes, JsonView } from './json-view.js'

/** The slider's moment: after the event at a position, or at a commit time. */
export type At = { position: number } | { time: number }

/** `at` as query parameters, and as the text of a data attribute the tests wait for. */
export function atParams (at: At): { position?: number, time?: number } {
  return 'position' in at ? { position: at.position } : { time: at.time }
}
export function atKey (at: At): string {
  return 'position' in at ? `position:${at.position}` : `time:${at.time}`
}

/** What a panel shows: the answer for `key` (the request it answers), or the error. */
interface Answer<T> {
  data: T | undefined
  error: string | undefined
  /** the request the data or error answers */
  key: string | undefined
  loading: boolean
}

/** The latest answer of `fetch` for `key`: a newer request makes older answers void. */
function useLatest<T> (key: string | undefined, fetch: () => Promise<T>): Answer<T> {
  const [state, setState] = useState<Answer<T>>({ data: undefined, error: undefined, key: undefined, loading: false })
  const seq = useRef(0)
  useEffect(() => {
    const n = ++seq.current
    if (key === undefined) {
      setState({ data: undefined, error: undefined, key, loading: false })
      return
    }
    setState(s => ({ ...s, loading: true }))
    const timer = setTimeout(() => {
      fetch().then(data => { if (n === seq.current) setState({ data, error: undefined, key, loading: false }) },
        (err: Error) => { if (n === seq.current) setState({ data: undefined, error: err.message, key, loading: false }) })
    }, 60)
    return () => { clearTimeout(timer) }
  }, [key])
  // until the effect above has run for a new key, what is shown answers another request
  return state.key === key ? state : { ...state, loading: true }
}

function NextEvent ({ next, what, none, onPick }: { next: NextChange | null, what: string, none: string, onPick: (event: EventRow) => void }): VNode {
  if (next === null) return html`<p class="muted" data-testid="next-none">${none}</p>`
  return html`
    <div class="next">
      <h4>${what}</h4>
      <ul class="events"><${EventLine} event=${next.event} mark="next" onPick=${onPick} /></ul>
      <${Changes} changes=${next.changes} none="(no change)" testid="changes" />
    </div>`
}

export function AggregatePanel ({ aggregates, at, defaultStream, initial, onPick, onChange }: {
  aggregates: string[]
  at: At
  defaultStream: string | undefined
  initial: { aggregate?: string, stream?: string }
  onPick: (event: EventRow) => void
  onChange: (choice: { aggregate: string, stream: string }) => void
}): VNode {
  const [name, setName] = useState(initial.aggregate !== undefined && aggregates.includes(initial.aggregate) ? initial.aggregate : aggregates[0] ?? '')
  const [typed, setTyped] = useState(initial.stream ?? '')
  const stream = typed !== '' ? typed : defaultStream ?? ''
  useEffect(() => { onChange({ aggregate: name, stream: typed }) }, [name, typed])
  const key = name === '' || stream === '' ? undefined : `${atKey(at)}|${name}|${stream}`
  const { data, error, loading, key: shown } = useLatest<AggregateAt>(key, async () => await api<AggregateAt>('aggregate', { name, stream, ...atParams(at) }))
  if (aggregates.length === 0) {
    return html`<section class="card panel"><h3>Aggregate</h3>
      <p class="muted">Start <code>annals ui</code> with <code>--aggregate file.js#Name</code> to see an aggregate's state here as of the slider's moment.</p></section>`
  }
  return html`
    <section class="card panel" data-testid="aggregate" data-for=${loading ? '' : shown ?? ''}>
      <h3>Aggregate</h3>
      <div class="controls">
        <select data-testid="aggregate-name" value=${name} onChange=${(e: Event) => { setName((e.target as HTMLSelectElement).value) }}>
          ${aggregates.map(a => html`<option value=${a}>${a}</option>`)}
        </select>
        <input type="text" data-testid="aggregate-stream" placeholder=${defaultStream ?? 'stream'} value=${typed}
          title="the stream to fold; empty: the stream of the event at the slider"
          onInput=${(e: Event) => { setTyped((e.target as HTMLInputElement).value) }} />
      </div>
      ${error === undefined ? null : html`<p class="error">${error}</p>`}
      ${data === undefined ? html`<p class="muted">${stream === '' ? 'no stream yet' : 'loading…'}</p>` : html`
        <p class="summary" data-testid="aggregate-revision">
          ${data.revision < 0
            ? html`<b>${data.stream}</b>: no event yet, the initial state`
            : html`<b>${data.stream}</b> after revision ${count(data.revision)} <span class="muted">(position #${count(data.position)}, committed ${iso(data.time)})</span>`}
        </p>
        <${JsonView} value=${data.state} testid="aggregate-state" />
        <${NextEvent} next=${data.next} what=${`next event of ${data.stream}, and what it changed`} none="(the stream has no later event)" onPick=${onPick} />`}
    </section>`
}

export function ViewPanel ({ views, at, initial, onPick, onChange }: {
  views: string[]
  at: At
  initial: { view?: string, prefix?: string }
  onPick: (event: EventRow) => void
  onChange: (choice: { view: string, prefix: string }) => void
}): VNode {
  const [name, setName] = useState(initial.view !== undefined && views.includes(initial.view) ? initial.view : views[0] ?? '')
  const [prefix, setPrefix] = useState(initial.prefix ?? '')
  useEffect(() => { onChange({ view: name, prefix }) }, [name, prefix])
  const key = name === '' ? undefined : `${atKey(at)}|${name}|${prefix}`
  const { data, error, loading, key: shown } = useLatest<ViewAt>(key, async () => await api<ViewAt>('view', { name, prefix, limit: 100, ...atParams(at) }))
  if (views.length === 0) {
    return html`<section class="card panel"><h3>View</h3>
      <p class="muted">Start <code>annals ui</code> with <code>--module views.js</code> to see a projection's documents here as of the slider's moment.</p></section>`
  }
  return html`
    <section class="card panel" data-testid="view" data-for=${loading ? '' : shown ?? ''}>
      <h3>View</h3>
      <div class="controls">
        <select data-testid="view-name" value=${name} onChange=${(e: Event) => { setName((e.target as HTMLSelectElement).value) }}>
          ${views.map(v => html`<option value=${v}>${v}</option>`)}
        </select>
        <input type="search" data-testid="view-prefix" placeholder="keys starting with…" value=${prefix}
          onInput=${(e: Event) => { setPrefix((e.target as HTMLInputElement).value) }} />
      </div>
      ${error === undefined ? null : html`<p class="error">${error}</p>`}
      ${data === undefined ? html`<p class="muted">loading…</p>` : html`
        <p class="summary">as of position #${count(data.position)}: ${count(data.docs.length)}${data.more ? '+' : ''} document${data.docs.length === 1 ? '' : 's'}</p>
        <table class="docs" data-testid="view-docs">
          <tbody>${data.docs.map(d => html`<tr data-key=${d.key}><th>${d.key}</th><td><${JsonView} value=${d.doc} /></td></tr>`)}</tbody>
        </table>
        ${data.docs.length === 0 ? html`<p class="muted">(no documents)</p>` : null}
        <${NextEvent} next=${data.next} what=${`next event that changed ${data.docs.length === 0 ? 'this range' : 'these documents'}, and what it changed`}
          none=${data.looked === 0 ? '(no later event for this view)' : `(no change to these documents in the next ${count(data.looked)} events ${name} handles)`} onPick=${onPick} />`}
    </section>`
}
