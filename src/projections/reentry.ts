// Inline handlers run inside the writer: a batch is written once every inline handler of its
// appends has settled. A handler that appended, and waited, would wait for a batch that waits
// for it. So inline handlers run in an async context of their own (AsyncLocalStorage), which
// follows their awaits; `append` looks for it and refuses at once.
//
// An enabled AsyncLocalStorage makes every promise of the process dearer (on Node 20 an await
// costs about four times as much), and enabling or disabling one costs about 2 µs. So this one
// is enabled only while inline handlers may run: from the start of a batch's inline work to its
// end (the hook), and around a chunk's handlers (trains catching an inline projection up). A
// handler's append can deadlock only while the handler runs, which is within such a window.
import { AsyncLocalStorage } from 'node:async_hooks'

const inline = new AsyncLocalStorage<string>()
/** windows open */
let windows = 0

/** Opens a window in which inline handlers may run; close it with {@link closeWindow}. */
export function openWindow (): void {
  windows++
}

/** Closes a window: once none is open, the context is disabled, and promises cost what they did. */
export function closeWindow (): void {
  if (--windows === 0) inline.disable()
}

/**
 * Calls an inline projection's handler (`fn`) in its context, which its awaits carry along.
 * Within a window; outside one (there is none), only its synchronous part is covered.
 */
export function runInline<T> (name: string, fn: () => T): T {
  if (windows > 0) return inline.run(name, fn)
  openWindow()
  try {
    return inline.run(name, fn)
  } finally {
    closeWindow()
  }
}

/** The name of the inline projection whose handler is running here, or undefined. */
export function inlineHandlerHere (): string | undefined {
  return inline.getStore()
}
