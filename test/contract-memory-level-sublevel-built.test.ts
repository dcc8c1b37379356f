// The contract suite's second half (what is built on the log) on memory-level sublevel.
import { runContracts } from './helpers/contracts.js'

runContracts('memory-level sublevel', 'built')
