// Taking a lock of the seam that may be held for a moment (a short critical section shared by
// processes): try, and when it is held, try again once it is announced free, or after a pause
// in case the announcement went astray.
import type { Backend, Lock } from './backend.js'

/** Longest pause between tries, in ms. */
const MAX_PAUSE = 50

/** Resolves with the lock `name` once this process holds it. */
export async function waitForLock (backend: Pick<Backend, 'tryLock' | 'onNotice'>, name: string): Promise<Lock> {
  let pause = 1
  for (;;) {
    const lock = await backend.tryLock(name)
    if (lock !== undefined) return lock
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, pause)
      const stop = backend.onNotice('lock-freed', freed => { if (freed === name) done() })
      function done (): void {
        clearTimeout(timer)
        stop()
        resolve()
      }
    })
    pause = Math.min(pause * 2, MAX_PAUSE)
  }
}
