// Requests to the server of the page, and the live updates it sends. The cookie set by the first
// load carries the token; nothing here sends anything but GET.
import type { ApiError, LiveMessages } from '../api-types.js'

/** Query parameters: those undefined or empty are left out. */
export type Params = Record<string, string | number | boolean | undefined>

/** The answer of GET /api/<path>, or an Error with the server's message. */
export async function api<T> (path: string, params: Params = {}): Promise<T> {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== '' && value !== false) query.set(key, value === true ? '1' : String(value))
  }
  const response = await fetch(`/api/${path}${query.size === 0 ? '' : `?${query.toString()}`}`, { headers: { Accept: 'application/json' } })
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`
    try {
      const body = await response.json() as ApiError
      message = body.error
    } catch {
      if (response.status === 403) message = 'Forbidden: open the address that `annals ui` printed (it carries the token)'
    }
    throw new Error(message)
  }
  return await response.json() as T
}

/** What to do with each kind of live message. */
export type LiveHandlers = { [K in keyof LiveMessages]: (data: LiveMessages[K]) => void }

/** Listens to the live updates; `onState` hears whether the connection is up. Returns the function that stops. */
export function listen (handlers: LiveHandlers, onState: (connected: boolean) => void): () => void {
  const source = new EventSource('/api/live')
  source.addEventListener('append', (e: MessageEvent<string>) => { handlers.append(JSON.parse(e.data)) })
  source.addEventListener('progress', (e: MessageEvent<string>) => { handlers.progress(JSON.parse(e.data)) })
  source.addEventListener('open', () => { onState(true) })
  source.addEventListener('error', () => { onState(source.readyState === EventSource.OPEN) })
  return () => { source.close() }
}
