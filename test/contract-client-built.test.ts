// The contract suite's second half (what is built on the log) on a client of another process:
// a child process owns the folder, and every database the tests open is a client of it.
import { runContracts } from './helpers/contracts.js'

runContracts('client of another process', 'built')
