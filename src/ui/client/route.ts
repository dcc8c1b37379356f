// Where the page is: the part of the address after '#', as a page name and its parameters
// (`#/log?position=42&aggregate=account`), so that every view can be bookmarked and reloaded.
import { useEffect, useState } from 'preact/hooks'

export type Page = 'overview' | 'streams' | 'stream' | 'log'

export interface Route {
  page: Page
  params: URLSearchParams
  /** counts the moves to another address (a link, back, forward): the page starts afresh on each */
  visit: number
}

const PAGES: readonly Page[] = ['overview', 'streams', 'stream', 'log']

/** The route of the address now. */
export function current (visit = 0): Route {
  const hash = location.hash.replace(/^#\/?/, '')
  const q = hash.indexOf('?')
  const name = q < 0 ? hash : hash.slice(0, q)
  const page = (PAGES as readonly string[]).includes(name) ? name as Page : 'overview'
  return { page, params: new URLSearchParams(q < 0 ? '' : hash.slice(q + 1)), visit }
}

/** The address of a page with parameters (undefined and empty ones left out). */
export function link (page: Page, params: Record<string, string | number | undefined> = {}): string {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== '') query.set(key, String(value))
  return `#/${page}${query.size === 0 ? '' : `?${query.toString()}`}`
}

/** Changes the parameters of the address without a new history entry (the slider moves often). */
export function replaceParams (page: Page, params: Record<string, string | number | undefined>): void {
  history.replaceState(null, '', link(page, params))
}

/** The route, kept current as the address changes. */
export function useRoute (): Route {
  const [route, setRoute] = useState(() => current())
  useEffect(() => {
    const update = (): void => { setRoute(r => current(r.visit + 1)) }
    addEventListener('hashchange', update)
    return () => { removeEventListener('hashchange', update) }
  }, [])
  return route
}
