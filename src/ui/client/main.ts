// The page of `annals ui`: a header with the pages and the live state, and the page the address
// names. Live updates (new events, where projections stand) arrive by server-sent events and
// are handed to every page.
import { html, render } from 'htm/preact'
import type { VNode } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import type { EventRow, Head, Overview, Progress } from '../api-types.js'
import { api, listen } from './api.js'
import { count } from './format.js'
import { LogPage } from './log.js'
import { OverviewPage } from './overview.js'
import { link, useRoute, type Page } from './route.js'
import { StreamPage, StreamsPage } from './streams.js'

/** What the live updates have said so far. */
export interface Live {
  connected: boolean
  head: Head | undefined
  progress: Progress | undefined
  /** the newest events received live, oldest first (50 at most) */
  recent: EventRow[]
  /** how many append messages arrived: pages refresh when it moves */
  appends: number
}

const NAV: Array<[Page, string]> = [['overview', 'Overview'], ['streams', 'Streams'], ['log', 'Log & time slider']]

function App (): VNode {
  const route = useRoute()
  const [live, setLive] = useState<Live>({ connected: false, head: undefined, progress: undefined, recent: [], appends: 0 })
  const [info, setInfo] = useState<Overview | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  useEffect(() => {
    api<Overview>('overview').then(o => {
      setInfo(o)
      document.title = `annals · ${o.location}`
    }, (err: Error) => { setError(err.message) })
    return listen({
      append: data => { setLive(l => ({ ...l, head: data.head, recent: [...l.recent, ...data.events].slice(-50), appends: l.appends + 1 })) },
      progress: data => { setLive(l => ({ ...l, progress: data, head: data.head })) }
    }, connected => { setLive(l => ({ ...l, connected })) })
  }, [])
  const head = live.head ?? (info === undefined ? undefined : { position: info.events - 1, time: info.lastTime })
  const page = route.page
  return html`
    <header class="top">
      <a class="brand" href="#/overview">annals</a>
      <span class="location" title="the database folder">${info?.location ?? ''}</span>
      <nav>${NAV.map(([p, label]) => html`<a href=${link(p)} class=${page === p || (p === 'streams' && page === 'stream') ? 'active' : ''}>${label}</a>`)}</nav>
      <span class=${`live ${live.connected ? 'on' : 'off'}`} data-testid="live" title=${live.connected ? 'live updates on' : 'live updates off: reconnecting'}>
        ${live.connected ? '● live' : '○ offline'}${head === undefined ? '' : ` · head #${count(head.position)}`}
      </span>
      <span class="readonly" title="nothing on this page can append or shred">read-only</span>
    </header>
    <main>
      ${error !== undefined ? html`<p class="error">${error}</p>` : null}
      ${info === undefined
        ? (error === undefined ? html`<p class="muted">loading…</p>` : null)
        : page === 'overview' ? html`<${OverviewPage} key=${route.visit} live=${live} />`
          : page === 'streams' ? html`<${StreamsPage} key=${route.visit} params=${route.params} />`
            : page === 'stream' ? html`<${StreamPage} key=${route.visit} params=${route.params} live=${live} />`
              : html`<${LogPage} key=${route.visit} params=${route.params} live=${live} info=${info} />`}
    </main>`
}

render(html`<${App} />`, document.getElementById('app')!)
