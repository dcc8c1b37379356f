// A small check that a text is well-formed XML, enough for the SVG the benchmarks draw: every
// tag closed in order, attributes quoted, no bare & or < in text.
/** The problems found, none if well formed. */
export function wellFormedXml (text: string): string[] {
  const problems: string[] = []
  const open: string[] = []
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g
  let last = 0
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    const between = text.slice(last, m.index)
    if (/<|&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(between)) problems.push(`bad text before offset ${m.index}: ${between.slice(0, 40)}`)
    last = tag.lastIndex
    const [, closing, name, , selfClosing] = m
    if (closing === '/') {
      const expected = open.pop()
      if (expected !== name) problems.push(`</${name!}> closes <${expected ?? 'nothing'}>`)
    } else if (selfClosing !== '/') {
      open.push(name!)
    }
  }
  if (/\S/.test(text.slice(last))) problems.push('text after the last tag')
  if (open.length > 0) problems.push(`not closed: ${open.join(', ')}`)
  return problems
}
