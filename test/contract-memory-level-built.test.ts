// The contract suite's second half (what is built on the log) on memory-level.
import { runContracts } from './helpers/contracts.js'

runContracts('memory-level', 'built')
