// Events as the pages show them: a header (position, type, stream and revision, commit time),
// then the id, data and metadata, personal fields marked.
import { html } from 'htm/preact'
import type { VNode } from 'preact'
import type { EventRow } from '../api-types.js'
import { iso } from './format.js'
import { JsonView } from './json-view.js'
import { link } from './route.js'

/** One event, whole. `mark` tags it ('this moment', 'next'); `onPick` makes its header a button. */
export function EventCard ({ event, mark, onPick }: { event: EventRow, mark?: string, onPick?: (event: EventRow) => void }): VNode {
  const e = event
  const metadata = typeof e.metadata === 'object' && e.metadata !== null && Object.keys(e.metadata).length > 0
  return html`
    <article class=${`event${mark === undefined ? '' : ` marked ${mark.replace(/\W+/g, '-')}`}`} data-testid="event" data-position=${e.position}>
      <header>
        ${mark === undefined ? null : html`<span class="mark">${mark}</span>`}
        ${onPick === undefined
          ? html`<span class="pos">#${e.position}</span>`
          : html`<button type="button" class="pos" title="move the slider here" onClick=${() => { onPick(e) }}>#${e.position}</button>`}
        <span class="type">${e.type}</span>
        <a class="stream" href=${link('stream', { name: e.stream })}>${e.stream}</a><span class="muted">@${e.revision}</span>
        <time class="muted">${iso(e.time)}</time>
      </header>
      <dl>
        <dt>id</dt><dd><code>${e.id}</code></dd>
        <dt>data</dt><dd><${JsonView} value=${e.data} marks=${{ personal: e.personal, redacted: e.redacted }} /></dd>
        ${metadata ? html`<dt>metadata</dt><dd><${JsonView} value=${e.metadata} /></dd>` : null}
      </dl>
    </article>`
}

/** One event on a line: for lists of many. */
export function EventLine ({ event, mark, onPick }: { event: EventRow, mark?: string, onPick?: (event: EventRow) => void }): VNode {
  const e = event
  return html`
    <li class=${`event-line${mark === undefined ? '' : ` marked ${mark.replace(/\W+/g, '-')}`}`} data-testid="event-line" data-position=${e.position}>
      ${onPick === undefined
        ? html`<span class="pos">#${e.position}</span>`
        : html`<button type="button" class="pos" title="move the slider here" onClick=${() => { onPick(e) }}>#${e.position}</button>`}
      <span class="type">${e.type}</span>
      <a class="stream" href=${link('stream', { name: e.stream })}>${e.stream}</a><span class="muted">@${e.revision}</span>
      <time class="muted">${iso(e.time)}</time>
      ${mark === undefined ? null : html`<span class="mark">${mark}</span>`}
    </li>`
}
