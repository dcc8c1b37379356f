// The model test of the whole store (helpers/store-model.ts) on memory-level sublevel;
// MODEL_RUNS=<n> runs more (or fewer) random sequences.
import t from 'tap'
import { storeModelTest } from './helpers/store-model.js'

storeModelTest(t, 'memory-level sublevel', Number(process.env.MODEL_RUNS ?? 300), 60)
