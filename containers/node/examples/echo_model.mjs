// Echoes each input back, for tests of every input type: numbers as arrays, strings as they are,
// bytes as base64.
export function predict(inputs) {
  return inputs.map((x) => {
    if (typeof x === 'string') return x;
    if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
    return Array.from(x);
  });
}
