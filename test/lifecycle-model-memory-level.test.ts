// The model test of streams' lives (helpers/lifecycle-model.ts) on memory-level;
// MODEL_RUNS=<n> runs more (or fewer) random sequences.
import t from 'tap'
import { lifecycleModelTest } from './helpers/lifecycle-model.js'

lifecycleModelTest(t, 'memory-level', Number(process.env.MODEL_RUNS ?? 200), 40)
