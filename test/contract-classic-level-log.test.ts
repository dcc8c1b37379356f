// The contract suite's first half (the log) on classic-level.
import { runContracts } from './helpers/contracts.js'

runContracts('classic-level', 'log')
