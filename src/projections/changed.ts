// A kept view whose handler is not the one that last wrote it. The declared `version` (and the
// `history` flag, which shapes what is stored) decide whether a stored view is rebuilt; the
// fingerprint of the handler's source text and `types` only decides whether to say so: the text
// changes with a bundler or another compiler as well as with an edit that should have bumped
// the version, and annals cannot tell which.

/** The code of the warning emitted when a view is kept for a handler of other source text. */
export const PROJECTION_CHANGED_WARNING = 'ANNALS_PROJECTION_CHANGED'

/** name, stored and current fingerprints already warned about in this process */
const warned = new Set<string>()

/**
 * Warns, once per process for each projection and pair of fingerprints, that the view of
 * `definition` was last written by a handler (or `types`) of other source text, under the
 * same version, and is kept.
 */
export function warnChanged (definition: { name: string, version: number, fingerprint: string }, stored: string): void {
  const key = `${definition.name}\u0000${stored}\u0000${definition.fingerprint}`
  if (warned.has(key)) return
  warned.add(key)
  process.emitWarning(
    `Projection '${definition.name}' (version ${definition.version}): the handler or types differ from those that last wrote the stored view, ` +
    'under the same version. The view is kept, not rebuilt. If what the handler does changed, bump version (or call rebuild()) to rebuild it; ' +
    'if only its source text changed (another compiler or bundler), nothing needs doing.',
    { type: 'AnnalsWarning', code: PROJECTION_CHANGED_WARNING })
}
