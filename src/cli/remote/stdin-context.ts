/**
 * `kiln --host H build -` as `docker build -`: stdin is either a context archive (tar, or a compressed tar the
 * server unpacks or refuses), sent as it comes, or a bare Dockerfile, which travels as a one-entry tar with no
 * other context. Which it is is decided from the first bytes, as the docker CLI does; the archive is streamed,
 * never buffered whole.
 */
import { Readable } from 'node:stream';
import { KilnError } from '../../errors.js';
import { packTar } from '../../tar/writer.js';

/** Magic numbers of what Docker accepts as a context archive: gzip, bzip2, xz, zstd; a tar has `ustar` at 257. */
function isArchive(head: Buffer): boolean {
  const starts = (...b: number[]) => b.every((x, i) => head[i] === x);
  if (starts(0x1f, 0x8b) || starts(0x42, 0x5a, 0x68) || starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) || starts(0x28, 0xb5, 0x2f, 0xfd)) return true;
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** The largest Dockerfile accepted from stdin (a bare Dockerfile is read into memory to be packed). */
const MAX_DOCKERFILE = 16 * 1024 * 1024;

/** Reads stdin's first bytes and returns the body to send: the archive itself, or a tar holding `Dockerfile`. */
export async function contextFromStdin(input: NodeJS.ReadableStream = process.stdin): Promise<{ stream: Readable; isArchive: boolean }> {
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let size = 0;
  let ended = false;
  while (size < 262) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    size += b.length;
  }
  const first = Buffer.concat(head);
  if (size === 0)
    throw new KilnError('INVALID_ARGUMENT', 'the build context on stdin is empty', {
      hint: 'pipe a tar (tar -C dir -c . | kiln --host … build -) or a Dockerfile',
    });
  async function* rest(): AsyncGenerator<Buffer> {
    yield first;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  }
  if (isArchive(first)) return { stream: Readable.from(rest(), { objectMode: false }), isArchive: true };
  const parts: Buffer[] = [];
  let total = 0;
  for await (const b of rest()) {
    total += b.length;
    if (total > MAX_DOCKERFILE) throw new KilnError('INVALID_ARGUMENT', `the Dockerfile on stdin is over ${MAX_DOCKERFILE} bytes`);
    parts.push(b);
  }
  const data = Buffer.concat(parts);
  // mtime 0: the same Dockerfile makes the same bytes, so the server's context cache knows a rebuild.
  const mtime = 0;
  return { stream: packTar([{ name: 'Dockerfile', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: data.length, data }]), isArchive: false };
}

/** Reads all of stdin (a Dockerfile for `-f -`); at most 16 MiB. */
export async function readStdinText(input: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const c of input as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    total += b.length;
    if (total > MAX_DOCKERFILE) throw new KilnError('INVALID_ARGUMENT', `the Dockerfile on stdin is over ${MAX_DOCKERFILE} bytes`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}
