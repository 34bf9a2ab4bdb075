// Clipper's quickstart model: the sum of each input vector.
// Neumaier's compensated summation returns the correctly rounded sum, so [1.1, 2.2, 3.3] → 6.6.
export function predict(inputs) {
  return inputs.map((x) => {
    let sum = 0;
    let compensation = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      const t = sum + v;
      compensation += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
      sum = t;
    }
    return sum + compensation;
  });
}
