/** Builds small tar archives in tests, including hostile ones a tar CLI refuses to write. */
import tar from 'tar-stream';
import { writeFileSync } from 'node:fs';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  body?: string;
  linkname?: string;
  mode?: number;
}

/** Writes an uncompressed tar with `entries` to `file`. */
export async function writeTar(file: string, entries: TarEntry[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(1600000000000) };
    await new Promise<void>((resolve, reject) =>
      type === 'file'
        ? pack.entry(header, e.body ?? '', (err) => (err ? reject(err) : resolve()))
        : pack.entry(header, (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  writeFileSync(file, Buffer.concat(chunks));
}
