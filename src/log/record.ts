// What the layers above the log need to know of records: which events hold sealed fields.
import { sealedEvents } from '../backend/backend.js'

/**
 * Events whose records hold sealed personal fields: the event transform opens those, and
 * skips the rest without looking.
 */
export const withExtensions = sealedEvents
