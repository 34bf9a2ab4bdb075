// The simulated Clock lives in src/lib/sim_clock.ts (the planner's simulator uses it too, and src/ may not
// import sim/); sim/ and the tests keep importing it from here.

export { SimClock } from '../src/lib/sim_clock.js';
