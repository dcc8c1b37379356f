// The contract suite's first half (the log) on memory-level sublevel.
import { runContracts } from './helpers/contracts.js'

runContracts('memory-level sublevel', 'log')
