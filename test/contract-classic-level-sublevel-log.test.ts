// The contract suite's first half (the log) on classic-level sublevel.
import { runContracts } from './helpers/contracts.js'

runContracts('classic-level sublevel', 'log')
