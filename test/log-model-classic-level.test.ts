// The log's model test on classic-level: see test/helpers/log-model.ts.
import { logModel } from './helpers/log-model.js'

logModel('classic-level')
