/** Test helper: the log-softmax of a float64 reference row (each token's log-probability there). */
export function logSoftmax(row: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return row.map((x) => x - lse);
}
