// The model test of the whole store (helpers/store-model.ts) on classic-level;
// MODEL_RUNS=<n> runs more (or fewer) random sequences.
import t from 'tap'
import { storeModelTest } from './helpers/store-model.js'

storeModelTest(t, 'classic-level', Number(process.env.MODEL_RUNS ?? 80), 50)
