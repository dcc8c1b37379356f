// Numbers, times and sizes for a person, as the command line writes them.

/** A count with thousands separators: 4,011. */
export function count (n: number): string {
  return n.toLocaleString('en-US')
}

/** A moment as ISO 8601 in UTC, to the millisecond. */
export function iso (ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString()
}

/** How long ago, roughly: "3 s ago", "5 min ago", "2 h ago", "4 days ago". */
export function ago (ms: number | null, now = Date.now()): string {
  if (ms === null) return ''
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} days ago`
}

/** A number of bytes in B, kB, MB or GB. */
export function bytes (n: number): string {
  if (n < 1000) return `${n} B`
  let value = n
  let unit = ''
  for (const u of ['kB', 'MB', 'GB', 'TB']) {
    value /= 1000
    unit = u
    if (value < 1000) break
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`
}

/** A rate: 1,234/s, or 0.25/s below one. */
export function rate (perSecond: number): string {
  return perSecond >= 10 ? `${count(Math.round(perSecond))}/s` : `${perSecond.toFixed(2)}/s`
}
