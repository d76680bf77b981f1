/** Temp roots for store tests; every root made here is removed by `cleanupRoots()`. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoot, type StoreRoot } from '../../../src/cache/root.js';
import type { ImageConfig } from '../../../src/image/types.js';

const made: string[] = [];

export async function tempDir(prefix = 'kiln-store-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export async function tempRoot(): Promise<StoreRoot> {
  return openRoot(await tempDir());
}

export async function cleanupRoots(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A minimal config for `n` layers with the given diff IDs. */
export function configFor(diffIds: string[], extra: Partial<ImageConfig> = {}): ImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, ...extra };
}

/** Blob count of a root. */
export async function blobCount(root: StoreRoot): Promise<number> {
  let n = 0;
  for await (const _ of root.content.list()) n++;
  return n;
}
