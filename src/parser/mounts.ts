/**
 * `RUN --mount=…` values (BuildKit's commands_runmount.go): a CSV list of `key=value` fields, typed per mount
 * type with BuildKit's defaults filled in. Values are expanded when an expander is given (at dispatch); at
 * parse time (no expander) a value holding `$` is left for later, except `from`, which may never use variables.
 */
import { KilnError } from '../errors.js';
import { suggest } from './suggest.js';
import type { MountSharing, RunMount } from './types.js';

type Expand = (value: string) => string;

const TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
const SHARING: MountSharing[] = ['shared', 'private', 'locked'];
const KEYS = [
  'type',
  'from',
  'source',
  'src',
  'target',
  'dst',
  'destination',
  'readonly',
  'ro',
  'readwrite',
  'rw',
  'id',
  'sharing',
  'required',
  'mode',
  'uid',
  'gid',
  'size',
  'env',
];

function bad(message: string): KilnError {
  return new KilnError('DOCKERFILE_BAD_FLAG', message);
}

/** Splits one CSV record (Go encoding/csv rules: `"` quotes a field, `""` inside is a quote). */
function splitCsv(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw bad(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',') throw bad(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      while (i < text.length && text[i] !== ',') {
        if (text[i] === '"') throw bad(`failed to parse csv mounts: bare " in non-quoted-field`);
        field += text[i++];
      }
    }
    out.push(field);
    if (i >= text.length) return out;
    i++; // comma
  }
}

function parseBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw bad(`invalid value for ${key}: ${value}`);
}

function parseUint(key: string, value: string, base: 8 | 10): number {
  const re = base === 8 ? /^[0-7]+$/ : /^\d+$/;
  const n = re.test(value) ? parseInt(value, base) : NaN;
  if (!Number.isFinite(n) || n > 0xffffffff) throw bad(`invalid value ${value} for ${key}`);
  return n;
}

/** docker/go-units RAMInBytes: `64m`, `1g`, `512k`, plain bytes; binary multiples. */
function parseRamBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(value.trim());
  if (!m) throw bad(`invalid value for size: ${value}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as '' | 'k'];
  return Math.floor(parseFloat(m[1]!) * mult);
}

/**
 * Parses one `--mount` value. `sshIndex` numbers ssh mounts for their default socket path. Throws
 * DOCKERFILE_BAD_FLAG naming the problem; the caller adds the location.
 */
export function parseMount(spec: string, opts: { expand?: Expand; sshIndex?: number } = {}): RunMount {
  const { expand } = opts;
  let type: (typeof TYPES)[number] = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target = '';
  let readonly: boolean | undefined;
  let required = false;
  let size = 0;
  let id: string | undefined;
  let sharing: MountSharing | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let env: string | undefined;

  for (const field of splitCsv(spec)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    let value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') readonly = true;
      else if (key === 'readwrite' || key === 'rw') readonly = false;
      else if (key === 'required') {
        if (type !== 'secret' && type !== 'ssh') throw bad(`unexpected key '${key}' for mount type '${type}'`);
        required = true;
      } else throw bad(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    if (expand) value = expand(value);
    else if (key === 'from' && /\$./.test(value)) throw bad(`'from' doesn't support variable expansion, define alias stage instead`);
    else if (value.includes('$') && key !== 'type') continue; // checked again after expansion, at dispatch
    switch (key) {
      case 'type': {
        const v = value.toLowerCase();
        if (!(TYPES as readonly string[]).includes(v)) {
          const s = suggest(value, TYPES);
          throw bad(`unsupported mount type ${JSON.stringify(value)}${s ? ` (did you mean ${s}?)` : ''}`);
        }
        type = v as (typeof TYPES)[number];
        break;
      }
      case 'from':
        from = value;
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'readonly':
      case 'ro':
        readonly = parseBool(key, value);
        break;
      case 'readwrite':
      case 'rw':
        readonly = !parseBool(key, value);
        break;
      case 'required':
        if (type !== 'secret' && type !== 'ssh') throw bad(`unexpected key '${key}' for mount type '${type}'`);
        required = parseBool(key, value);
        break;
      case 'size':
        if (type !== 'tmpfs') throw bad(`unexpected key '${key}' for mount type '${type}'`);
        size = parseRamBytes(value);
        break;
      case 'id':
        id = value;
        break;
      case 'sharing': {
        const v = value.toLowerCase() as MountSharing;
        if (!SHARING.includes(v)) throw bad(`unsupported sharing value ${JSON.stringify(value)}`);
        sharing = v;
        break;
      }
      case 'mode':
        mode = parseUint('mode', value, 8);
        break;
      case 'uid':
        uid = parseUint('uid', value, 10);
        break;
      case 'gid':
        gid = parseUint('gid', value, 10);
        break;
      case 'env':
        if (type !== 'secret') throw bad(`unexpected key '${key}' for mount type '${type}'`);
        env = value;
        break;
      default: {
        const s = suggest(key, KEYS);
        throw bad(`unexpected key '${key}' in '${field}'${s ? ` (did you mean ${s}?)` : ''}`);
      }
    }
  }

  const fileInfoAllowed = type === 'secret' || type === 'ssh' || type === 'cache';
  if (!fileInfoAllowed) {
    if (mode !== undefined) throw bad(`mode not allowed for "${type}" type mounts`);
    if (uid !== undefined) throw bad(`uid not allowed for "${type}" type mounts`);
    if (gid !== undefined) throw bad(`gid not allowed for "${type}" type mounts`);
  }
  if (sharing !== undefined && type !== 'cache') throw bad(`invalid cache sharing set for ${type} mount`);
  const ro = readonly ?? !(type === 'cache' || type === 'tmpfs');

  switch (type) {
    case 'bind':
      return { type, target, readonly: ro, source: source ?? '/', ...(from !== undefined ? { from: { kind: 'image', ref: from, raw: from } } : {}) };
    case 'cache':
      return {
        type,
        target,
        readonly: ro,
        id: id || target,
        sharing: sharing ?? 'shared',
        ...(from !== undefined ? { from: { kind: 'image', ref: from, raw: from } } : {}),
        ...(source !== undefined ? { source } : {}),
        mode: mode ?? 0o755,
        uid: uid ?? 0,
        gid: gid ?? 0,
      };
    case 'tmpfs':
      return { type, target, readonly: ro, size };
    case 'secret': {
      if (from !== undefined) throw bad('secret mount should not have a from');
      if (source !== undefined && id !== undefined) throw bad("both source and id can't be set");
      const sid = id ?? source ?? (target ? (target.split('/').filter(Boolean).pop() ?? '') : '');
      if (!sid && !env) throw bad('invalid secret mount. one of source, target required');
      const hasTarget = target !== '' || env === undefined;
      return {
        type,
        id: sid,
        readonly: ro,
        target: target || `/run/secrets/${sid}`,
        hasTarget,
        ...(env !== undefined ? { env } : {}),
        required,
        mode: mode ?? 0o400,
        uid: uid ?? 0,
        gid: gid ?? 0,
      };
    }
    case 'ssh':
      return {
        type,
        id: id || 'default',
        readonly: ro,
        target: target || `/run/buildkit/ssh_agent.${opts.sshIndex ?? 0}`,
        required,
        mode: mode ?? 0o600,
        uid: uid ?? 0,
        gid: gid ?? 0,
      };
  }
}
