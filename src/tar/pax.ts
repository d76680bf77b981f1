/**
 * PAX extended header records (`"%d %s=%s\n"`, the length counting itself). Values are bytes, not text: an
 * xattr such as `security.capability` is binary and must survive byte-exact, which tar-stream's string
 * decoding breaks.
 */
import { KilnError } from '../errors.js';

/** Encodes records in the given order. */
export function encodePax(records: Array<[string, string | Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const base = Buffer.byteLength(key) + v.length + 3; // ' ', '=', '\n'
    let len = base + String(base).length;
    if (String(len).length !== String(base).length) len = base + String(len).length;
    parts.push(Buffer.from(`${len} ${key}=`, 'utf8'), v, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** Decodes records into a map of key to raw value bytes. Later records win, as the standard says. */
export function decodePax(data: Buffer, where: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const sp = data.indexOf(0x20, pos);
    const len = sp === -1 ? NaN : Number(data.toString('latin1', pos, sp));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new KilnError('ARCHIVE_INVALID', `${where}: malformed PAX extended header record at byte ${pos}`);
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= pos + len) throw new KilnError('ARCHIVE_INVALID', `${where}: PAX record without '='`);
    const key = data.toString('utf8', sp + 1, eq);
    out.set(key, data.subarray(eq + 1, pos + len - 1));
    pos += len;
  }
  return out;
}
