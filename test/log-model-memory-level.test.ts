// The log's model test on memory-level: see test/helpers/log-model.ts.
import { logModel } from './helpers/log-model.js'

logModel('memory-level')
