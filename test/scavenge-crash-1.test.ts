// Crash safety of scavenging (see helpers/scavenge-crash.ts): 10 of the 20 kills.
import { scavengeCrashTest } from './helpers/scavenge-crash.js'

scavengeCrashTest(10)
