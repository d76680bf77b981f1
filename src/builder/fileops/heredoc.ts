/**
 * Heredoc sources (`COPY <<EOF /dst` … `EOF`): each body becomes a file named after its delimiter, mode 0644, then
 * is copied with the instruction's destination rules, `--chown` and `--chmod`, exactly like BuildKit's inline
 * document (a Mkfile on scratch followed by a copy).
 */
import { mkdtempSync, rmSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { join, posix } from 'node:path';
import { createHash } from 'node:crypto';
import type { Digest } from '../../image/types.js';
import { copyFiles, type CopyOptions, type CopyResult } from './copy.js';

/** One inline source: the delimiter's name (`EOF`, or a path) and the body. */
export interface InlineSource {
  name: string;
  content: string;
}

export interface HeredocCopyOptions extends Omit<CopyOptions, 'srcRoot' | 'sources' | 'ownership' | 'selection' | 'ignore' | 'exclude' | 'parents' | 'unpack'> {
  heredocs: readonly InlineSource[];
  /** Parent of the temp directory for the bodies (`<root>/tmp`). */
  tmpDir: string;
  /** mtime of the written files; default now (BuildKit stamps inline files at build time). */
  mtime?: Date;
}

/** The cache-key input for inline sources: their names and bodies. */
export function heredocDigest(heredocs: readonly InlineSource[]): Digest {
  const h = createHash('sha256');
  for (const d of heredocs) h.update(`${JSON.stringify(d.name)} ${Buffer.byteLength(d.content)}\n`).update(d.content);
  return `sha256:${h.digest('hex')}`;
}

/** Writes each heredoc into the destination. */
export async function copyHeredocs(opts: HeredocCopyOptions): Promise<CopyResult> {
  const dir = mkdtempSync(join(opts.tmpDir, 'heredoc-'));
  try {
    const names: string[] = [];
    for (const d of opts.heredocs) {
      const name = posix.normalize(`/${d.name}`).slice(1);
      const file = join(dir, name);
      writeFileSync(file, d.content);
      chmodSync(file, 0o644);
      const t = opts.mtime ?? new Date();
      utimesSync(file, t, t);
      names.push(name.replace(/[*?[\\]/g, '\\$&'));
    }
    return await copyFiles({ ...opts, srcRoot: dir, sources: names, ownership: 'reset', sourceCount: opts.sourceCount ?? names.length });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
