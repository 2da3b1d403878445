// The docs:math calculator in JavaScript (jco componentize). Results: return the ok value; throw
// for err (the thrown value becomes the err payload).
export function add(a, b) {
  return (a + b) >>> 0;
}

export const ops = {
  greet(name) {
    return `Hello, ${name}!`;
  },
  stats(values) {
    if (values.length === 0) return { count: 0, min: 0, max: 0, mean: 0 };
    let sum = 0, min = values[0], max = values[0];
    for (const v of values) {
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { count: values.length, min, max, mean: sum / values.length };
  },
  divide(a, b) {
    if (b === 0) throw "division by zero";
    return Math.trunc(a / b) | 0;
  },
};
