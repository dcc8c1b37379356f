// Who may read the page: a process on this machine that knows the token `annals ui` printed.
// The server listens on 127.0.0.1 only; every request must carry the token (in the URL, or in
// the cookie the first load sets) and name this server as its Host (a page of another site
// that points a name of its own at 127.0.0.1 gets nothing). The page only reads: any method but
// GET and HEAD is refused, and no CORS header is ever sent, so other origins cannot read answers.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'

/**
 * A fresh random token: 24 bytes, base64url.
 *
 * @example
 * ```ts
 * const url = `http://127.0.0.1:${port}/?token=${newToken()}`
 * ```
 */
export function newToken (): string {
  return randomBytes(24).toString('base64url')
}

/**
 * Whether `given` is the token, in time that does not depend on where they differ (both are
 * hashed first, so their lengths do not show either).
 *
 * @example
 * ```ts
 * if (!sameToken(c.req.query('token') ?? '', token)) return c.text('Forbidden', 403)
 * ```
 */
export function sameToken (given: string, token: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(token, 'utf8').digest()
  return timingSafeEqual(a, b)
}

/** The name of the cookie that carries the token: one per port, as cookies ignore ports. */
export function cookieName (port: number): string {
  return `annals-ui-${port}`
}

/** Headers of every answer: a strict content security policy, no sniffing, no framing, no caching. */
export function securityHeaders (scriptHash: string): Record<string, string> {
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src 'self' '${scriptHash}'`,
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'"
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store'
  }
}

/**
 * The middleware that admits a request only with the token and this server's Host, and only to
 * read. A page load with the token in its URL sets the cookie and is sent on to the same page
 * without it, so the token leaves the address bar and the history.
 *
 * @example
 * ```ts
 * app.use(guard({ token, port: () => port, headers: securityHeaders(hash) }))
 * ```
 */
export function guard (options: { token: string, port: () => number, headers: Record<string, string> }): MiddlewareHandler {
  return async (c, next) => {
    for (const [name, value] of Object.entries(options.headers)) c.header(name, value)
    const port = options.port()
    const host = c.req.header('host')
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return c.text('This server answers requests to 127.0.0.1 only.\n', 403)
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      c.header('Allow', 'GET, HEAD')
      return c.text('The page only reads: nothing can be changed through it.\n', 405)
    }
    const name = cookieName(port)
    const inUrl = c.req.query('token')
    const given = inUrl ?? getCookie(c, name)
    if (given === undefined || !sameToken(given, options.token)) {
      return c.text('Forbidden: open the address that `annals ui` printed (it carries the token).\n', 403)
    }
    if (inUrl !== undefined) {
      setCookie(c, name, options.token, { httpOnly: true, sameSite: 'Strict', path: '/' })
      if (c.req.path === '/') {
        const url = new URL(c.req.url)
        url.searchParams.delete('token')
        return c.redirect(url.pathname + url.search, 302)
      }
    }
    await next()
  }
}
