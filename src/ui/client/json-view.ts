// Values of the user's, drawn: JSON laid out as JSON.stringify(value, null, 2) writes it, in
// colour, with personal fields of events marked (sealed until clicked, or redacted once their
// subject is shredded); and the changes an event made, as the replay command prints them.
// Everything is text to Preact, which escapes it: no value of the user's is ever markup.
import { html } from 'htm/preact'
import type { ComponentChildren, VNode } from 'preact'
import { useState } from 'preact/hooks'
import type { ChangeRow, Json } from '../api-types.js'

/** Which fields of an event are personal (path -> subject), and which of them are shredded. */
export interface PersonalMarks {
  personal?: Record<string, string> | undefined
  redacted?: string[] | undefined
}

/** A value as indented JSON; `marks` mark the personal fields of event data. */
export function JsonView ({ value, marks, testid }: { value: Json, marks?: PersonalMarks, testid?: string }): VNode {
  return html`<pre class="json" data-testid=${testid}>${layout(value, '', '', marks)}</pre>`
}

/** `path`: the dotted path of `value` in the data (undefined inside arrays, which paths do not follow). */
function layout (value: Json, indent: string, path: string | undefined, marks: PersonalMarks | undefined): ComponentChildren {
  const subject = path === undefined || path === '' ? undefined : marks?.personal?.[path]
  if (subject !== undefined) {
    return html`<${Personal} value=${value} subject=${subject} redacted=${marks?.redacted?.includes(path!) === true} />`
  }
  if (value === null) return html`<span class="j-null">null</span>`
  if (typeof value === 'string') return html`<span class="j-str">${JSON.stringify(value)}</span>`
  if (typeof value === 'number') return html`<span class="j-num">${JSON.stringify(value)}</span>`
  if (typeof value === 'boolean') return html`<span class="j-bool">${String(value)}</span>`
  const inner = indent + '  '
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]'
    return ['[\n', ...value.map((v, i) => [inner, layout(v, inner, undefined, marks), i < value.length - 1 ? ',\n' : '\n']), indent, ']']
  }
  const keys = Object.keys(value)
  if (keys.length === 0) return '{}'
  return ['{\n', ...keys.map((k, i) => [
    inner, html`<span class="j-key">${JSON.stringify(k)}</span>`, ': ',
    layout(value[k]!, inner, path === undefined ? undefined : path === '' ? k : `${path}.${k}`, marks),
    i < keys.length - 1 ? ',\n' : '\n'
  ]), indent, '}']
}

/** A personal field: hidden until clicked, or redacted (null) once its subject is shredded. */
function Personal ({ value, subject, redacted }: { value: Json, subject: string, redacted: boolean }): VNode {
  const [shown, show] = useState(false)
  if (redacted) {
    return html`<span class="j-null">null</span> <span class="badge redacted" title="the subject's key was shredded: this field reads as null for good">redacted · ${subject}</span>`
  }
  if (!shown) {
    return html`<button type="button" class="sealed" title="a personal field, encrypted under the key of ${subject}: click to show it" onClick=${() => { show(true) }}>••••••</button> <span class="badge sealed">sealed · ${subject}</span>`
  }
  return html`<span class="j-personal">${JSON.stringify(value)}</span> <span class="badge sealed">personal · ${subject}</span>`
}

/** A value on one line, shortened past 200 characters. */
export function compact (value: Json | undefined): string {
  const text = value === undefined ? 'undefined' : JSON.stringify(value)
  return text.length > 200 ? `${text.slice(0, 199)}…` : text
}

const SIGN = { add: '+', remove: '-', set: '~' } as const

/** The changes an event made, one line each, as `annals replay` prints them: `~ state.bytes: 0 → 2400000`. */
export function Changes ({ changes, none, testid }: { changes: ChangeRow[], none: string, testid: string }): VNode {
  if (changes.length === 0) return html`<p class="muted" data-testid=${testid}>${none}</p>`
  return html`<ul class="changes" data-testid=${testid}>${changes.map(c => html`
    <li class=${`change ${c.op}`}>
      <span class="op">${SIGN[c.op]}</span> <code class="path">${c.path}</code>${c.op === 'set'
        ? html`: <code class="from">${compact(c.from)}</code> → <code class="to">${compact(c.to)}</code>`
        : c.op === 'add'
          ? html`: <code class="to">${compact(c.to)}</code>`
          : html` <span class="muted">(was <code class="from">${compact(c.from)}</code>)</span>`}
    </li>`)}</ul>`
}
