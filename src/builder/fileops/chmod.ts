/**
 * `--chmod` for COPY/ADD: an octal mode up to 07777 (applied to every copied file and directory, as BuildKit does),
 * or a symbolic mode as `chmod(1)` and BuildKit's dockerfile frontend accept (`u+x`, `go-w,a+X`, `u=rw,o=`),
 * applied to each file's own mode. `X` adds execute only to directories and already-executable files.
 */
import { KilnError } from '../../errors.js';

/** Maps a source's permission bits (07777) to the copied file's. */
export type ModeFn = (mode: number, isDir: boolean) => number;

const WHO: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/** Parses a `--chmod` value; throws DOCKERFILE_BAD_FLAG with BuildKit's wording for a bad value. */
export function parseChmod(spec: string): ModeFn {
  if (/^[0-9]+$/.test(spec)) {
    const n = /^[0-7]+$/.test(spec) ? parseInt(spec, 8) : NaN;
    if (!(n <= 0o7777)) throw badChmod(spec);
    return () => n;
  }
  const clauses = spec.split(',').map((c) => parseClause(c, spec));
  return (mode, isDir) => {
    let m = mode & 0o7777;
    for (const apply of clauses) m = apply(m, isDir);
    return m;
  };
}

function badChmod(spec: string): KilnError {
  return new KilnError('DOCKERFILE_BAD_FLAG', `invalid chmod parameter: '${spec}'. it should be octal string and between 0 and 07777`);
}

function parseClause(clause: string, spec: string): ModeFn {
  const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(clause);
  if (!m) throw new KilnError('DOCKERFILE_BAD_FLAG', `invalid chmod parameter: '${spec}'`);
  let who = 0;
  for (const c of m[1]) who |= WHO[c];
  const explicitWho = who !== 0;
  if (!explicitWho) who = 0o7777;
  const actions = [...m[2].matchAll(/([-+=])([rwxXstugo]*)/g)].map((a) => ({ op: a[1], perms: a[2] }));
  return (mode, isDir) => {
    for (const { op, perms } of actions) {
      let bits = 0;
      for (const p of perms) {
        if (p === 'r') bits |= 0o444;
        else if (p === 'w') bits |= 0o222;
        else if (p === 'x') bits |= 0o111;
        else if (p === 'X') {
          if (isDir || (mode & 0o111) !== 0) bits |= 0o111;
        } else if (p === 's') bits |= 0o6000;
        else if (p === 't') bits |= 0o1000;
        else {
          // Copy another class's current bits: u → shifted 6, g → 3, o → 0, spread to all classes.
          const shift = p === 'u' ? 6 : p === 'g' ? 3 : 0;
          const v = (mode >> shift) & 7;
          bits |= (v << 6) | (v << 3) | v;
        }
      }
      bits &= who;
      if (op === '+') mode |= bits;
      else if (op === '-') mode &= ~bits;
      else mode = (mode & ~(who & (explicitWho ? who : 0o7777))) | bits;
    }
    return mode & 0o7777;
  };
}
