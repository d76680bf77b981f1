/** "Did you mean …?" for misspelt keywords, flags and stage names (edit distance, as BuildKit's suggest). */

function distance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/**
 * The closest of `options` to `value` (case-insensitive) when it is close enough to be a typo: at most two
 * edits, and fewer edits than half the word. Undefined otherwise.
 */
export function suggest(value: string, options: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = distance(v, o.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  if (best === undefined || bestD === 0) return bestD === 0 ? best : undefined;
  return bestD <= 2 && bestD * 2 < Math.max(v.length, 2) + 1 ? best : undefined;
}
