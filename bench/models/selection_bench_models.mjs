// Models for bench/selection_experiments.ts (one exported function per model; ContainerSpec.function).
// Their errors come from a deterministic hash of (input, model), so every run is reproducible and a
// model answers the same input the same way (the prediction cache stays correct).
//
//   classify*: input [t, phase]; true class t mod 10. Answers a wrong class with the model's error
//              rate for that phase (cls0 degrades from 10% to 60% errors in phase 1).
//   regress*:  input [t, phase]; true value truth(t). Answers truth + uniform noise of the model's
//              scale (independent per model). reg0 (the most accurate) sleeps 50 ms in phase 1 (a straggler).
//   delay*:    answer 1 after a fixed delay (ms).

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A uniform number in [0, 1) from two integers (a 32-bit integer hash). */
export function hash01(x, salt) {
  let z = (Math.imul(x | 0, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0;
  z ^= z >>> 16;
  z = Math.imul(z, 0x7feb352d) >>> 0;
  z ^= z >>> 15;
  z = Math.imul(z, 0x846ca68b) >>> 0;
  z ^= z >>> 16;
  return (z >>> 0) / 4294967296;
}

export const truthClass = (t) => t % 10;
export const truthValue = (t) => 10 * Math.sin(t / 50) + (t % 7);

const kClassErrors = [
  [0.1, 0.6],
  [0.25, 0.25],
  [0.4, 0.4],
];
const kNoise = [2, 3, 4];

function classify(id, inputs) {
  return inputs.map(([t, phase]) => {
    const label = truthClass(t);
    if (hash01(t, id) >= kClassErrors[id][phase ? 1 : 0]) return label;
    return (label + 1 + Math.floor(hash01(t, id + 100) * 9)) % 10;
  });
}

function regress(id, inputs) {
  return inputs.map(([t]) => truthValue(t) + (hash01(t, id + 200) - 0.5) * 2 * kNoise[id]);
}

export const cls0 = (inputs) => classify(0, inputs);
export const cls1 = (inputs) => classify(1, inputs);
export const cls2 = (inputs) => classify(2, inputs);
export async function reg0(inputs) {
  if (inputs.some((x) => x[1] === 1)) await sleep(50);
  return regress(0, inputs);
}
export const reg1 = (inputs) => regress(1, inputs);
export const reg2 = (inputs) => regress(2, inputs);
export async function delay1(inputs) {
  await sleep(1);
  return inputs.map(() => 1);
}
export async function delay3(inputs) {
  await sleep(3);
  return inputs.map(() => 1);
}
export async function delay5(inputs) {
  await sleep(5);
  return inputs.map(() => 1);
}
