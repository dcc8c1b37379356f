// The files of the page, all served from the package, none from a CDN: the page's own modules
// (src/ui/client, compiled by `npm run build` to dist/src/ui/client) and the libraries it uses,
// as their packages ship them in node_modules, found at run time. The HTML is one small shell
// whose import map tells the browser where the libraries' bare names (`preact`, `htm/preact`,
// `uplot`) are served.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CliError, ExitCode } from '../cli/errors.js'

/** A file the server sends: its bytes and content type. */
export interface Asset {
  body: Buffer
  type: string
}

/** The libraries of the page: URL path under /vendor/ -> the module (or file) of the package. */
const VENDOR: Record<string, { specifier: string, importAs?: string }> = {
  'preact.mjs': { specifier: 'preact', importAs: 'preact' },
  'preact-hooks.mjs': { specifier: 'preact/hooks', importAs: 'preact/hooks' },
  'htm.mjs': { specifier: 'htm', importAs: 'htm' },
  'htm-preact.mjs': { specifier: 'htm/preact', importAs: 'htm/preact' },
  'uplot.mjs': { specifier: 'uplot/dist/uPlot.esm.js', importAs: 'uplot' },
  'uplot.css': { specifier: 'uplot/dist/uPlot.min.css' }
}

const TYPES: Record<string, string> = {
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8'
}

function typeOf (file: string): string {
  return TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream'
}

/** The import map of the page. */
const IMPORT_MAP = JSON.stringify({
  imports: Object.fromEntries(Object.entries(VENDOR)
    .filter(([, v]) => v.importAs !== undefined)
    .map(([file, v]) => [v.importAs!, `/vendor/${file}`]))
})

/** The CSP source of the inline import map, the page's only inline script. */
export const importMapHash = `sha256-${createHash('sha256').update(IMPORT_MAP, 'utf8').digest('base64')}`

/** The page's shell; everything in it is the package's own text (no data of the user's). */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>annals</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/vendor/uplot.css">
<link rel="stylesheet" href="/app/style.css">
<script type="importmap">${IMPORT_MAP}</script>
<script type="module" src="/app/main.js"></script>
</head>
<body><div id="app"></div></body>
</html>
`

/**
 * The page's files: its compiled modules and stylesheet (by name) and the libraries (by their
 * /vendor/ name), read once. Throws a CliError when the page has not been built.
 */
export class Assets {
  readonly #clientDir: string
  readonly #client: Set<string>
  readonly #cache = new Map<string, Asset>()

  constructor () {
    if (typeof import.meta.resolve !== 'function') {
      throw new CliError('annals ui needs Node.js 20.6 or newer (to find the page\'s libraries with import.meta.resolve)', ExitCode.failure)
    }
    this.#clientDir = clientDir()
    this.#client = new Set(readdirSync(this.#clientDir).filter(f => f.endsWith('.js') || f.endsWith('.css')))
  }

  /** A file of the page's own (`main.js`, `style.css`); undefined for any other name. */
  client (name: string): Asset | undefined {
    if (!this.#client.has(name)) return undefined
    return this.#read(`app/${name}`, join(this.#clientDir, name))
  }

  /** A library's file by its /vendor/ name; undefined for any other name. */
  vendor (name: string): Asset | undefined {
    const entry = Object.hasOwn(VENDOR, name) ? VENDOR[name] : undefined
    if (entry === undefined) return undefined
    return this.#read(`vendor/${name}`, fileURLToPath(import.meta.resolve(entry.specifier)))
  }

  #read (key: string, file: string): Asset {
    let asset = this.#cache.get(key)
    if (asset === undefined) {
      // the libraries' source map comments point at files not served
      const text = readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n').replace(/\/\*# sourceMappingURL=\S+ \*\/\s*$/, '\n')
      asset = { body: Buffer.from(text, 'utf8'), type: typeOf(file) }
      this.#cache.set(key, asset)
    }
    return asset
  }
}

/**
 * Where the compiled page is: beside this module in the package (dist/src/ui/client), or, when
 * this module runs from the TypeScript source (the tests), in dist/ of the same checkout.
 */
function clientDir (): string {
  for (const candidate of ['./client/', '../../dist/src/ui/client/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(join(dir, 'main.js'))) return dir
  }
  throw new CliError('The page of annals ui is not built: run `npm run build` in the annals package', ExitCode.failure)
}
