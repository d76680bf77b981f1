/**
 * Compares two image configs on the fields a Dockerfile controls. Empty values are normalised (buildah writes
 * `Cmd: []` where BuildKit omits Cmd) and builder-identity labels are dropped.
 */

const FIELDS = [
  'Env',
  'Entrypoint',
  'Cmd',
  'WorkingDir',
  'User',
  'ExposedPorts',
  'Volumes',
  'Labels',
  'StopSignal',
  'OnBuild',
  'Healthcheck',
  'Shell',
] as const;

/** Labels a builder stamps on every image it makes; not part of what the Dockerfile says. */
const BUILDER_LABELS = /^io\.buildah\./;

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

function normalise(field: string, v: unknown): unknown {
  if (field === 'Labels' && v && typeof v === 'object') {
    v = Object.fromEntries(Object.entries(v as Record<string, string>).filter(([k]) => !BUILDER_LABELS.test(k)));
  }
  if (isEmpty(v)) return undefined;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return v;
}

/** Differences as readable lines; empty when the configs agree. `ignore` names fields to skip. */
export function diffConfigs(expected: Record<string, unknown>, actual: Record<string, unknown>, ignore: string[] = []): string[] {
  const out: string[] = [];
  for (const field of FIELDS) {
    if (ignore.includes(field)) continue;
    const e = JSON.stringify(normalise(field, expected[field]));
    const a = JSON.stringify(normalise(field, actual[field]));
    if (e !== a) out.push(`config.${field}: expected ${e} got ${a}`);
  }
  return out;
}
