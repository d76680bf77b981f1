/**
 * Canonical JSON: object keys sorted by code unit, no whitespace, `undefined` members dropped. Every manifest,
 * config and cache key kiln writes goes through it, so equal content always hashes to the same digest.
 */

/** Serialises `value` canonically. Throws on values JSON cannot represent (NaN, Infinity, BigInt, cycles). */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

/** Canonical JSON as UTF-8 bytes (what gets hashed and stored). */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

function write(v: unknown, seen: Set<object>): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: cannot encode ${v}`);
      return JSON.stringify(v);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof v}`);
  }
  const obj = v as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof obj.toJSON === 'function') return write(obj.toJSON(), seen);
  if (seen.has(obj)) throw new TypeError('canonicalJson: cyclic structure');
  seen.add(obj);
  let out: string;
  if (Array.isArray(obj)) {
    out = `[${obj.map((x) => (x === undefined || typeof x === 'function' ? 'null' : write(x, seen))).join(',')}]`;
  } else {
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined && typeof obj[k] !== 'function')
      .sort();
    out = `{${keys.map((k) => `${JSON.stringify(k)}:${write(obj[k], seen)}`).join(',')}}`;
  }
  seen.delete(obj);
  return out;
}
