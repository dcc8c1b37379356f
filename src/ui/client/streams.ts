// The streams, searched by prefix; and one stream's events, page by page, with their data and
// metadata and personal fields marked.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { EventRow, EventsPage, StreamRow, StreamsPage as Page } from '../api-types.js'
import { api } from './api.js'
import { EventCard } from './events.js'
import { ago, count, iso } from './format.js'
import type { Live } from './main.js'
import { link, replaceParams } from './route.js'

const PAGE = 100

export function StreamsPage ({ params }: { params: URLSearchParams }): VNode {
  const [prefix, setPrefix] = useState(params.get('prefix') ?? '')
  const [rows, setRows] = useState<StreamRow[]>([])
  const [more, setMore] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [loading, setLoading] = useState(true)
  useEffect(() => {
    setLoading(true)
    const timer = setTimeout(() => {
      replaceParams('streams', { prefix })
      api<Page>('streams', { prefix, limit: PAGE }).then(page => {
        setRows(page.streams)
        setMore(page.more)
        setError(undefined)
        setLoading(false)
      }, (err: Error) => { setError(err.message) })
    }, 200)
    return () => { clearTimeout(timer) }
  }, [prefix])
  const next = (): void => {
    api<Page>('streams', { prefix, after: rows.at(-1)?.stream, limit: PAGE }).then(page => {
      setRows(r => [...r, ...page.streams])
      setMore(page.more)
    }, (err: Error) => { setError(err.message) })
  }
  return html`
    <section class="card">
      <h2>Streams</h2>
      <label class="search">name starts with
        <input type="search" data-testid="prefix" value=${prefix} placeholder="user-" autofocus
          onInput=${(e: Event) => { setPrefix((e.target as HTMLInputElement).value) }} />
      </label>
      ${error === undefined ? null : html`<p class="error">${error}</p>`}
      ${!loading && rows.length === 0
        ? html`<p class="muted">${prefix === '' ? 'no streams' : `no streams start with ${JSON.stringify(prefix)}`}</p>`
        : html`<table data-testid="streams">
            <thead><tr><th>stream</th><th>revision</th><th>last event</th><th>last commit</th></tr></thead>
            <tbody>${rows.map(s => html`
              <tr><td><a href=${link('stream', { name: s.stream })}>${s.stream}</a></td>
                <td class="num">${count(s.revision)}</td><td class="num">#${count(s.position)}</td>
                <td>${iso(s.time)} <span class="muted">${ago(s.time)}</span></td></tr>`)}</tbody>
          </table>`}
      ${more ? html`<button type="button" onClick=${next}>more streams</button>` : null}
    </section>`
}

export function StreamPage ({ params, live }: { params: URLSearchParams, live: Live }): VNode {
  const name = params.get('name') ?? ''
  const [events, setEvents] = useState<EventRow[]>([])
  const [more, setMore] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const [loaded, setLoaded] = useState(false)
  useEffect(() => {
    setLoaded(false)
    api<EventsPage>('events', { stream: name, limit: PAGE }).then(page => {
      setEvents(page.events)
      setMore(page.more)
      setError(undefined)
      setLoaded(true)
    }, (err: Error) => { setError(err.message) })
  }, [name])
  // events of this stream that arrive live, once the page shows the stream's end
  useEffect(() => {
    if (!loaded || more) return
    setEvents(list => {
      const last = list.at(-1)?.revision ?? -1
      const fresh = live.recent.filter(e => e.stream === name && e.revision > last)
      return fresh.length === 0 ? list : [...list, ...fresh]
    })
  }, [live.appends, loaded, more])
  const next = (): void => {
    api<EventsPage>('events', { stream: name, from: (events.at(-1)?.revision ?? -1) + 1, limit: PAGE }).then(page => {
      setEvents(list => [...list, ...page.events])
      setMore(page.more)
    }, (err: Error) => { setError(err.message) })
  }
  return html`
    <section class="card">
      <h2><span class="muted">stream</span> <span data-testid="stream-name">${name}</span></h2>
      <p class="muted">${loaded ? (events.length === 0 ? 'no events: the stream does not exist' : `revisions 0 to ${count(events.at(-1)!.revision)}${more ? ' and more' : ''}`) : ''}</p>
      ${error === undefined ? null : html`<p class="error">${error}</p>`}
      <div class="event-list">${events.map(e => html`<${EventCard} key=${e.position} event=${e} />`)}</div>
      ${more ? html`<button type="button" onClick=${next}>more events</button>` : null}
    </section>`
}
