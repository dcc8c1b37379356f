// The contract suite's first half (the log) on memory-level.
import { runContracts } from './helpers/contracts.js'

runContracts('memory-level', 'log')
