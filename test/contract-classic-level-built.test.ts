// The contract suite's second half (what is built on the log) on classic-level.
import { runContracts } from './helpers/contracts.js'

runContracts('classic-level', 'built')
