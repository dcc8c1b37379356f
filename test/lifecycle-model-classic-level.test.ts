// The model test of streams' lives (helpers/lifecycle-model.ts) on classic-level;
// MODEL_RUNS=<n> runs more (or fewer) random sequences.
import t from 'tap'
import { lifecycleModelTest } from './helpers/lifecycle-model.js'

lifecycleModelTest(t, 'classic-level', Number(process.env.MODEL_RUNS ?? 80), 40)
