// A scavenge killed with SIGKILL 10 times (the second half of 20): see test/helpers/scavenge-crash.ts.
import { scavengeCrash } from './helpers/scavenge-crash.js'

scavengeCrash(10)
