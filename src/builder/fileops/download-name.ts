/**
 * The name a downloaded file gets, as BuildKit's http source chooses it: `Content-Disposition`'s `filename`
 * (RFC 6266, parsed as Go's mime.ParseMediaType does, RFC 2231 `filename*` included) takes precedence, else the
 * last component of the URL's percent-decoded path, else `__unnamed__`. Both come from a remote server, so
 * whatever they say is reduced to one safe base name (`safeFileName`): never a path, never `.`/`..`, no NUL or
 * control characters. The download is written as `join(tempDir, name)`; this module is what keeps that join
 * inside `tempDir`.
 *
 * Differences from BuildKit: its current `SafeFileName` falls back to `download`; kiln keeps `__unnamed__`, the
 * name every BuildKit release before it gave a URL without a usable path (and the one images built so far hold).
 */
import { posix } from 'node:path';

/** What a URL or header that names no usable file gets. */
export const UNNAMED = '__unnamed__';

/**
 * Reduces `raw` to a file name that is safe to join to a directory: outer white space trimmed, the last
 * `/`-separated component kept, `UNNAMED` for an empty name, `.`, `..`, or one holding NUL or a control
 * character. Backslashes stay literal, as BuildKit keeps them on Linux.
 */
export function safeFileName(raw: string): string {
  const trimmed = raw.trim();
  if (trimmed === '') return UNNAMED;
  const base = posix.basename(trimmed);
  // basename('/') is '' and basename('a/') is 'a'; anything still holding a separator cannot be a name.
  if (base === '' || base === '.' || base === '..' || base.includes('/') || /[\u0000-\u001f\u007f-\u009f]/.test(base)) return UNNAMED;
  return base;
}

/** The URL's name: the last component of its percent-decoded path (BuildKit: `path.Base(url.Path)`), made safe. */
export function urlFileName(url: string): string {
  let path: string;
  try {
    // Decode first, then take the base name: `..%2F..%2Fetc%2Fx` decodes to a path whose base name is `x`.
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return UNNAMED; // not a URL, or a malformed %-escape (Go's url.Parse refuses those too)
  }
  const base = posix.basename(path);
  return base === '' || base === '.' || base === '/' ? UNNAMED : safeFileName(base);
}

/**
 * `filename` from a `Content-Disposition` value, or `undefined` when the header is malformed, has none, or names
 * a directory (ends in `/`): then the URL decides, as in BuildKit. A name that is there but unsafe (`..`) is
 * `UNNAMED`, not the URL's name, also as in BuildKit.
 */
export function dispositionFileName(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const params = parseDispositionParams(header);
  const name = params?.get('filename');
  if (!name || name.endsWith('/')) return undefined;
  return safeFileName(name);
}

/** Go's tspecials (RFC 2045) plus space and controls: what a token may not hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The parameters of a `type; k=v; k="v"` value with lower-cased keys, RFC 2231 forms (`k*=utf-8''%41`,
 * `k*0=…; k*1*=…`) decoded under the plain key; `undefined` when malformed (a bad type, a bad parameter, a
 * duplicate with a different value), as Go's parser refuses those.
 */
export function parseDispositionParams(header: string): Map<string, string> | undefined {
  const semi = header.indexOf(';');
  const type = (semi < 0 ? header : header.slice(0, semi)).trim();
  if (!TOKEN.test(type) && !/^[^/]+\/[^/]+$/.test(type)) return undefined;
  const simple = new Map<string, string>();
  const starred = new Map<string, Map<string, string>>();
  let rest = semi < 0 ? '' : header.slice(semi);
  for (;;) {
    rest = rest.trimStart();
    if (rest === '') break;
    if (rest === ';') break; // a trailing semicolon is tolerated
    const m = /^;\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*/.exec(rest);
    if (!m) return undefined;
    const key = m[1]!.toLowerCase();
    rest = rest.slice(m[0].length);
    const value = consumeValue(rest);
    if (!value) return undefined;
    rest = value.rest;
    const star = key.indexOf('*');
    const map = star < 0 ? simple : (starred.get(key.slice(0, star)) ?? starred.set(key.slice(0, star), new Map()).get(key.slice(0, star))!);
    const had = map.get(key);
    if (had !== undefined && had !== value.text) return undefined;
    map.set(key, value.text);
  }
  for (const [base, pieces] of starred) {
    const single = pieces.get(`${base}*`);
    if (single !== undefined) {
      const dec = decode2231(single);
      if (dec !== undefined) simple.set(base, dec);
      continue;
    }
    let joined = '';
    let valid = false;
    for (let n = 0; ; n++) {
      const plain = pieces.get(`${base}*${n}`);
      const encoded = pieces.get(`${base}*${n}*`);
      if (plain !== undefined) joined += plain;
      else if (encoded !== undefined) {
        const dec = n === 0 ? decode2231(encoded) : percentDecode(encoded);
        if (dec === undefined) {
          valid = false;
          break;
        }
        joined += dec;
      } else break;
      valid = true;
    }
    if (valid) simple.set(base, joined);
  }
  return simple;
}

/** A token or a quoted string (backslash escapes only before specials, as Go reads MSIE's unescaped paths). */
function consumeValue(s: string): { text: string; rest: string } | undefined {
  if (!s.startsWith('"')) {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s);
    return m ? { text: m[0], rest: s.slice(m[0].length) } : undefined;
  }
  let text = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') return { text, rest: s.slice(i + 1) };
    if (c === '\\' && i + 1 < s.length && '()<>@,;:\\"/[]?= '.includes(s[i + 1]!)) {
      text += s[++i];
      continue;
    }
    if (c === '\r' || c === '\n') return undefined;
    text += c;
  }
  return undefined; // no closing quote
}

/** `charset'lang'%XX…` with charset utf-8 or us-ascii (the only ones Go decodes). */
function decode2231(v: string): string | undefined {
  const parts = v.split("'");
  if (parts.length !== 3) return undefined;
  const charset = parts[0]!.toLowerCase();
  if (charset !== 'utf-8' && charset !== 'us-ascii') return undefined;
  return percentDecode(parts[2]!);
}

function percentDecode(v: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(v)) return undefined;
  const out: Buffer[] = [];
  let last = 0;
  for (const m of v.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    out.push(Buffer.from(v.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    last = m.index! + 3;
  }
  out.push(Buffer.from(v.slice(last), 'utf8'));
  return Buffer.concat(out).toString('utf8');
}
