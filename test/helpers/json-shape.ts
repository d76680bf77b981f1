/**
 * Compares two JSON documents by shape, not value: the same keys at every level (nested objects, and each element
 * of an array against the reference's elements) with the same JSON types. A `null` in the reference is Go's nil
 * slice, map or pointer, so the other side may hold an array or object there (never a string, number or boolean).
 */

export type JsonType = 'null' | 'array' | 'object' | 'string' | 'number' | 'boolean';

export function jsonType(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v as JsonType;
}

export interface ShapeRules {
  /**
   * Objects whose keys are data, not field names (Labels, Networks by name, Ports, GraphDriver.Data), named by the
   * end of their path (`Labels` is any `….Labels`, `LogConfig.Config` only that one): their entries are compared
   * with the reference's first entry instead of key by key.
   */
  maps?: string[];
  /** Paths the answer may lack or add, each with why: whole paths, `*` one key, `[]` an array element. */
  allow?: Array<{ path: string; why: string }>;
}

function matches(pattern: string, path: string): boolean {
  const esc = pattern
    .replace(/[.+?^$()|\\]/g, '\\$&')
    .replace(/\[\]/g, '\\[\\]')
    .replace(/\*/g, '[^.\\[]+');
  return new RegExp(`^${esc}$`).test(path);
}

function endsWith(suffix: string, path: string): boolean {
  return path === suffix || path.endsWith(`.${suffix}`) || path.endsWith(`]${suffix}`);
}

/** Every shape difference of `actual` against `reference`, as `path: what` lines (empty when they match). */
export function shapeDiff(reference: unknown, actual: unknown, rules: ShapeRules = {}, path = ''): string[] {
  const rt = jsonType(reference);
  const at = jsonType(actual);
  const here = path || '(top)';
  if (rt === 'null') return at === 'null' || at === 'array' || at === 'object' ? [] : [`${here}: ${at} where dockerd has null (a nil slice, map or pointer)`];
  if (rt !== at) return [`${here}: ${at} where dockerd has ${rt}`];
  if (rt === 'array') {
    const ref = reference as unknown[];
    const act = actual as unknown[];
    if (!ref.length || !act.length) return [];
    const out: string[] = [];
    for (const el of act) {
      // An element matches if it has the shape of any of the reference's elements (rows of different states).
      const tries = ref.map((r) => shapeDiff(r, el, rules, `${path}[]`));
      const best = tries.reduce((a, b) => (b.length < a.length ? b : a));
      out.push(...best);
    }
    return [...new Set(out)];
  }
  if (rt !== 'object') return [];
  const ref = reference as Record<string, unknown>;
  const act = actual as Record<string, unknown>;
  const join = (k: string) => (path ? `${path}.${k}` : k);
  if ((rules.maps ?? []).some((m) => endsWith(m, path))) {
    const first = Object.values(ref)[0];
    if (first === undefined) return [];
    return Object.entries(act).flatMap(([k, v]) => shapeDiff(first, v, rules, join(k)));
  }
  const allowed = (p: string) => (rules.allow ?? []).some((a) => matches(a.path, p));
  const out: string[] = [];
  for (const k of Object.keys(ref)) {
    if (!(k in act)) {
      if (!allowed(join(k))) out.push(`${join(k)}: missing (dockerd has ${jsonType(ref[k])})`);
      continue;
    }
    out.push(...shapeDiff(ref[k], act[k], rules, join(k)));
  }
  for (const k of Object.keys(act)) if (!(k in ref) && !allowed(join(k))) out.push(`${join(k)}: not in dockerd's answer`);
  return out;
}
